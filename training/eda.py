"""Exploratory data analysis report: one self-contained HTML file with embedded PNG plots.

Sections: overview, per-sensor statistics, missingness and gaps, distributions (normal vs
labelled), correlation heatmap, seasonality (daily profile, autocorrelation), example series
with labelled anomalies shaded, and anomaly patterns by fault kind (how far each kind moves
each sensor, in robust z units, plus one example event per kind).

Assumptions: a :class:`training.data.Dataset` frame; plots use at most ``max_rows`` rows
(a deterministic sample of whole devices). Fails with
:class:`training.data.DataError` when the dataset cannot be loaded.

>>> from training.simulator import SimConfig, to_frame
>>> from training.data import Dataset, SIM_SENSORS
>>> ds = Dataset(to_frame(SimConfig(devices=2, duration_s=600, seed=0, start_ms=0, anomaly_rate=0.1)),
...              list(SIM_SENSORS), "doc")
>>> stats = sensor_stats(ds.frame, ds.sensors)
>>> list(stats.columns[:4]), len(stats)
(['sensor', 'count', 'missing_pct', 'mean'], 8)
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import Dataset, load_dataset

_TEMPLATE = Path(__file__).parent / "templates" / "eda.html.j2"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _thin(n: int, max_points: int = 1500) -> slice:
    """Stride that keeps at most ``max_points`` of ``n`` points (plots only; stats use all)."""
    return slice(None, None, max(1, -(-n // max_points)))


def _longest_flat(x: np.ndarray) -> int:
    x = x[~np.isnan(x)]
    if x.size < 2:
        return int(x.size)
    change = np.flatnonzero(np.diff(x) != 0)
    edges = np.concatenate([[-1], change, [x.size - 1]])
    return int(np.diff(edges).max())


def sensor_stats(frame: pd.DataFrame, sensors: list[str]) -> pd.DataFrame:
    """Per-sensor count, missing %, mean, std, min, p01, median, p99, max, longest flat run."""
    rows = []
    for s in sensors:
        x = frame[s].to_numpy(dtype=np.float64)
        ok = x[~np.isnan(x)]
        q = np.percentile(ok, [1, 50, 99]) if ok.size else [np.nan] * 3
        flat = max((_longest_flat(g[s].to_numpy(dtype=np.float64)) for _, g in frame.groupby("device_id", sort=False)), default=0)
        rows.append({
            "sensor": s, "count": int(ok.size), "missing_pct": 100.0 * (1 - ok.size / max(1, x.size)),
            "mean": float(np.mean(ok)) if ok.size else np.nan, "std": float(np.std(ok)) if ok.size else np.nan,
            "min": float(np.min(ok)) if ok.size else np.nan, "p01": q[0], "median": q[1], "p99": q[2],
            "max": float(np.max(ok)) if ok.size else np.nan, "longest_flat_run": flat,
        })
    return pd.DataFrame(rows)


def _sample(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    # whole devices (time order kept), chosen deterministically
    devs = list(pd.unique(frame["device_id"]))
    keep, n = [], 0
    for d in devs:
        c = int((frame["device_id"] == d).sum())
        if n and n + c > max_rows:
            break
        keep.append(d)
        n += c
    return frame[frame["device_id"].isin(keep)].head(max_rows)


def _interval_ms(frame: pd.DataFrame) -> float:
    d = frame.groupby("device_id", sort=False)["ts"].diff().dropna()
    d = d[d > 0]
    return float(d.median()) if len(d) else float("nan")


def _fmt_ms(ms: float) -> str:
    if not np.isfinite(ms):
        return "n/a"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.3g} {unit}"
    return f"{ms:.0f} ms"


def _plots(ds: Dataset, f: pd.DataFrame, say: Callable[[str], None]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sensors = ds.sensors
    out: dict[str, str] = {}
    labelled = "label" in f.columns and f["label"].sum() > 0
    say("  missingness")
    miss = f[sensors].isna().groupby(f["device_id"], sort=False).mean() * 100
    if len(miss) > 40:
        miss = miss.iloc[:40]
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(sensors), 1.5 + 0.25 * len(miss)))
    im = ax.imshow(miss.to_numpy(), aspect="auto", cmap="Reds", vmin=0)
    ax.set_xticks(range(len(sensors)), sensors, rotation=45, ha="right")
    ax.set_yticks(range(len(miss)), miss.index)
    fig.colorbar(im, ax=ax, label="% missing")
    ax.set_title("Missing values per device and sensor")
    out["missing"] = _png(fig)

    say("  distributions")
    ncol = min(4, len(sensors))
    nrow = int(np.ceil(len(sensors) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
    for ax, s in zip(axes.ravel(), sensors):
        x = f[s].to_numpy(dtype=np.float64)
        ok = ~np.isnan(x)
        lo, hi = np.nanpercentile(x, [0.1, 99.9]) if ok.any() else (0, 1)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
        if labelled:
            lab = f["label"].to_numpy() == 1
            ax.hist(x[ok & ~lab], bins=bins, density=True, alpha=0.6, label="normal")
            ax.hist(x[ok & lab], bins=bins, density=True, alpha=0.6, label="labelled", color="crimson")
        else:
            ax.hist(x[ok], bins=bins, alpha=0.8)
        ax.set_title(s, fontsize=9)
    for ax in axes.ravel()[len(sensors):]:
        ax.axis("off")
    if labelled:
        axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    out["hist"] = _png(fig)

    if len(sensors) > 1:
        say("  correlation")
        c = f[sensors].corr()
        fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(sensors), 1.2 + 0.6 * len(sensors)))
        im = ax.imshow(c.to_numpy(), cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_xticks(range(len(sensors)), sensors, rotation=45, ha="right")
        ax.set_yticks(range(len(sensors)), sensors)
        for i in range(len(sensors)):
            for j in range(len(sensors)):
                v = c.iat[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        fig.colorbar(im, ax=ax)
        ax.set_title("Pearson correlation")
        out["corr"] = _png(fig)

    say("  seasonality")
    hours = (f["ts"] // 3_600_000) % 24
    prof = f[sensors].groupby(hours).mean()
    z = (prof - prof.mean()) / prof.std().replace(0, np.nan)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    for s in sensors:
        axes[0].plot(z.index, z[s], label=s)
    axes[0].set_xlabel("hour of day (UTC)")
    axes[0].set_ylabel("mean, standardised")
    axes[0].set_title("Daily profile")
    axes[0].legend(fontsize=6, ncol=2)
    # autocorrelation on one device resampled to its median interval
    iv = _interval_ms(f)
    dev = f["device_id"].iloc[0]
    g = f[f["device_id"] == dev]
    if np.isfinite(iv) and len(g) > 10:
        grid = (g["ts"] // iv).astype(np.int64)
        r = g[sensors].groupby(grid).mean()
        r = r.reindex(range(int(r.index.min()), int(r.index.max()) + 1)).interpolate(limit_area="inside")
        max_lag = int(min(len(r) // 2, max(10, 86_400_000 * 1.5 // iv)))
        lags = np.unique(np.linspace(1, max_lag, min(200, max_lag)).astype(int))
        for s in sensors:
            x = r[s].to_numpy(dtype=np.float64)
            x = x - np.nanmean(x)
            x = np.nan_to_num(x)
            den = float(np.dot(x, x)) or 1.0
            ac = [float(np.dot(x[:-k], x[k:]) / den) for k in lags]
            axes[1].plot(lags * iv / 3_600_000, ac, label=s)
        axes[1].set_xlabel("lag (hours)")
        axes[1].set_title(f"Autocorrelation ({dev})")
        axes[1].axhline(0, color="grey", lw=0.5)
    fig.tight_layout()
    out["season"] = _png(fig)

    say("  example series")
    devs = list(pd.unique(f["device_id"]))[:3]
    t_origin = int(f["ts"].min())
    fig, axes = plt.subplots(len(sensors), len(devs), figsize=(5 * len(devs), 1.3 * len(sensors) + 0.5), squeeze=False, sharex="col")
    for j, d in enumerate(devs):
        g = f[f["device_id"] == d]
        t = (g["ts"] - t_origin) / 3_600_000  # hours: numeric ticks draw much faster than dates
        k = _thin(len(g))
        for i, s in enumerate(sensors):
            ax = axes[i, j]
            ax.plot(t[k], g[s].iloc[k], lw=0.6)
            if labelled:
                lab = g["label"].to_numpy() == 1
                if lab.any():
                    ax.scatter(t[lab], g[s][lab], s=3, color="crimson", zorder=3)
            if j == 0:
                ax.set_ylabel(s, fontsize=7)
            ax.tick_params(labelsize=6)
        axes[0, j].set_title(str(d), fontsize=9)
        axes[-1, j].set_xlabel(f"hours since {pd.Timestamp(t_origin, unit='ms', tz='UTC'):%Y-%m-%d %H:%M} UTC", fontsize=7)
    fig.tight_layout()
    out["series"] = _png(fig)
    return out


def _events(frame: pd.DataFrame) -> list[tuple[str, str, int, int]]:
    """Runs of consecutive labelled rows of one device and kind: (kind, device, first, last)."""
    lab = frame["label"].to_numpy() == 1
    kinds = frame["fault_kind"].to_numpy() if "fault_kind" in frame else np.full(len(frame), "anomaly", dtype=object)
    dev = frame["device_id"].to_numpy()
    same = np.r_[False, (dev[1:] == dev[:-1]) & (kinds[1:] == kinds[:-1]) & lab[:-1]]
    starts = np.flatnonzero(lab & ~same)
    out = []
    for a in starts:
        b = a
        while b + 1 < len(lab) and lab[b + 1] and dev[b + 1] == dev[a] and kinds[b + 1] == kinds[a]:
            b += 1
        out.append((str(kinds[a]) or "unlabelled", str(dev[a]), int(a), int(b)))
    return out


def cross_residual_z(frame: pd.DataFrame, sensors: list[str]) -> np.ndarray:
    """Per device, each sensor's residual from a linear fit on the other sensors, in σ units.

    Fitted on the device's unlabelled rows. Load changes move the correlated sensors
    together and so mostly cancel out; a fault that breaks the usual relation between sensors
    (spike, shift, drift on one sensor) stands out. With one sensor this is a plain z-score.
    Rows are as in ``frame``; NaN where an input is missing.
    """
    x = frame[sensors].to_numpy(dtype=np.float64)
    out = np.full_like(x, np.nan)
    normal = (frame["label"].to_numpy() == 0) if "label" in frame else np.ones(len(frame), bool)
    for _, idx in frame.groupby("device_id", sort=False).indices.items():
        xd = x[idx]
        fit = normal[idx] & ~np.isnan(xd).any(axis=1)
        if fit.sum() < 3 * (len(sensors) + 1):
            continue
        for j in range(len(sensors)):
            others = [k for k in range(len(sensors)) if k != j]
            a_fit = np.c_[np.ones(int(fit.sum())), xd[fit][:, others]]
            beta, *_ = np.linalg.lstsq(a_fit, xd[fit, j], rcond=None)
            pred = np.c_[np.ones(len(xd)), xd[:, others]] @ beta
            res = xd[:, j] - pred
            sd = np.nanstd(res[fit])
            out[idx, j] = res / sd if sd > 1e-12 else np.nan
    return out


def _event_metrics(
    x: np.ndarray, rz: np.ndarray, lab: np.ndarray, dev: np.ndarray, a: int, b: int, baseline: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(peak |residual z|, log2 std ratio vs the normal rows before) per sensor, rows ``a..b``."""
    d = dev[a]
    lo = a
    while lo > 0 and dev[lo - 1] == d and a - lo < 4 * baseline:
        lo -= 1
    base = x[lo:a][~lab[lo:a]][-baseline:]
    with np.errstate(all="ignore"):
        peak = np.nanmax(np.abs(rz[a : b + 1]), axis=0)
        if len(base) < 10 or b - a + 1 < 5:
            return peak, np.full(x.shape[1], np.nan)
        sd = np.nanstd(base, axis=0)
        sd = np.where(sd > 1e-9, sd, np.nan)
        ratio = np.log2((np.nanstd(x[a : b + 1], axis=0) + 1e-12) / sd)
    return peak, ratio


def anomaly_patterns(
    frame: pd.DataFrame, sensors: list[str], baseline: int = 120, max_events: int = 50
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per fault kind: counts, mean peak |residual z| per sensor, mean log2 std ratio per sensor.

    For each labelled event (a run of labelled rows of one device and kind): the peak of
    :func:`cross_residual_z` inside it (how far the sensor left its usual relation to the
    others), and ``log2(std inside / std of the `baseline` normal readings before)``
    (strongly negative = flat, e.g. stuck). Averaged over at most ``max_events`` events per
    kind; a single-sensor kind shows up diluted across the sensors it happened to hit.
    Expects rows sorted by device and time.
    """
    if "label" not in frame or frame["label"].sum() == 0:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    f = frame.reset_index(drop=True)
    x = f[sensors].to_numpy(dtype=np.float64)
    rz = cross_residual_z(f, sensors)
    lab = f["label"].to_numpy() == 1
    dev = f["device_id"].to_numpy()
    peak: dict[str, list[np.ndarray]] = {}
    ratio: dict[str, list[np.ndarray]] = {}
    n_ev: dict[str, int] = {}
    devs: dict[str, set] = {}
    for kind, d, a, b in _events(f):
        n_ev[kind] = n_ev.get(kind, 0) + 1
        devs.setdefault(kind, set()).add(d)
        if len(peak.get(kind, [])) >= max_events:
            continue
        m = _event_metrics(x, rz, lab, dev, a, b, baseline)
        peak.setdefault(kind, []).append(m[0])
        if np.isfinite(m[1]).any():
            ratio.setdefault(kind, []).append(m[1])
    kinds_all = f.loc[lab, "fault_kind"].replace("", "unlabelled") if "fault_kind" in f else pd.Series("anomaly", index=f.index[lab])
    counts = pd.DataFrame({
        "readings": kinds_all.value_counts(),
        "events": pd.Series(n_ev),
        "devices": pd.Series({k: len(v) for k, v in devs.items()}),
    }).fillna(0).astype(int).sort_values("readings", ascending=False)
    with np.errstate(all="ignore"):
        pk = pd.DataFrame({k: np.nanmean(np.vstack(v), axis=0) for k, v in peak.items()}, index=sensors).T
        rt = pd.DataFrame({k: np.nanmean(np.vstack(v), axis=0) for k, v in ratio.items()}, index=sensors).T
    return counts, pk, rt


def _heat(mat: pd.DataFrame, title: str, label: str, cmap: str, center: bool) -> str:
    import matplotlib.pyplot as plt

    v = mat.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * mat.shape[1], 1 + 0.45 * mat.shape[0]))
    finite = v[np.isfinite(v)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    vmin, vmax = (-lim, lim) if center else (0, lim)
    im = ax.imshow(v, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=45, ha="right")
    ax.set_yticks(range(mat.shape[0]), mat.index)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if np.isfinite(v[i, j]):
                ax.text(j, i, f"{v[i, j]:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title)
    return _png(fig)


def _kind_plots(frame: pd.DataFrame, sensors: list[str], peak: pd.DataFrame, ratio: pd.DataFrame) -> dict[str, str]:
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    if not peak.empty:
        out["peak"] = _heat(peak, "Peak |z| of each sensor's residual from the other sensors", "mean peak |residual z|", "Reds", False)
    if not ratio.empty:
        out["ratio"] = _heat(ratio, "log2(std inside / std before): negative = flatter", "mean log2 ratio", "coolwarm", True)
    f = frame.reset_index(drop=True)
    x = f[sensors].to_numpy(dtype=np.float64)
    rz = cross_residual_z(f, sensors)
    lab_all = f["label"].to_numpy() == 1
    dev = f["device_id"].to_numpy()
    seen: set[str] = set()
    for kind, d, a, b in _events(f):
        if kind in seen or len(seen) >= 8:
            continue
        seen.add(kind)
        show = sensors
        m = _event_metrics(x, rz, lab_all, dev, a, b, 120)
        if len(sensors) > 4:
            # the sensors this event moved most, plus the one it flattened most (stuck)
            pk, rt = np.nan_to_num(m[0]), np.nan_to_num(m[1])
            pick = list(np.argsort(-pk)[:3]) + [int(np.argmin(rt))]
            show = [sensors[i] for i in dict.fromkeys(pick)]
        pad = max(60, (b - a) * 2)
        lo, hi = a, b
        while lo > 0 and f["device_id"].iat[lo - 1] == d and a - lo < pad:
            lo -= 1
        while hi + 1 < len(f) and f["device_id"].iat[hi + 1] == d and hi - b < pad:
            hi += 1
        w = f.iloc[lo : hi + 1]
        t0 = int(f["ts"].iat[a])
        t = (w["ts"] - t0) / 60_000  # minutes from the event start
        fig, axes = plt.subplots(len(show), 1, figsize=(9, 0.9 + 1.1 * len(show)), sharex=True, squeeze=False)
        lab = (w["label"].to_numpy() == 1) & (w["fault_kind"].to_numpy() == kind)
        k = _thin(len(w), 3000)
        for ax, s in zip(axes[:, 0], show):
            ax.plot(t[k], w[s].iloc[k], lw=0.8)
            ax.fill_between(t, 0, 1, where=lab, transform=ax.get_xaxis_transform(), color="crimson", alpha=0.2)
            if lab.sum() <= 3:
                ax.scatter(t[lab], w[s][lab], color="crimson", s=12, zorder=3)
            ax.set_ylabel(s, fontsize=7)
            ax.tick_params(labelsize=7)
        axes[0, 0].set_title(f"{kind}: example on {d} (labelled readings in red)", fontsize=9)
        axes[-1, 0].set_xlabel(f"minutes from {pd.Timestamp(t0, unit='ms', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC", fontsize=7)
        fig.tight_layout()
        out[f"kind:{kind}"] = _png(fig)
    return out


def build_report(
    path: str | Path | Dataset,
    out: str | Path | None = None,
    *,
    fmt: str = "auto",
    max_rows: int = 500_000,
    say: Callable[[str], None] = lambda m: None,
) -> Path:
    """Write the EDA HTML for a dataset path (or a loaded Dataset); return the file path."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    t0 = time.perf_counter()
    say(f"loading {path}")
    ds = path if isinstance(path, Dataset) else load_dataset(path, fmt)
    f = _sample(ds.frame, max_rows)
    say(f"{len(ds.frame):,} rows, {ds.frame['device_id'].nunique()} devices, {len(ds.sensors)} sensors"
        + (f" (plots on {len(f):,} rows)" if len(f) < len(ds.frame) else ""))
    say("statistics")
    stats = sensor_stats(f, ds.sensors)
    iv = _interval_ms(f)
    gaps = f.groupby("device_id", sort=False)["ts"].diff()
    n_gaps = int((gaps > 3 * iv).sum()) if np.isfinite(iv) else 0
    dups = int(f.duplicated(["device_id", "ts"]).sum())
    ooo = int((gaps < 0).sum())
    say("plots")
    plots = _plots(ds, f, say)
    counts = pd.DataFrame()
    if "label" in f.columns and f["label"].sum() > 0:
        say("anomaly patterns")
        fs = f.sort_values(["device_id", "ts"], kind="stable")
        counts, peak, ratio = anomaly_patterns(fs, ds.sensors)
        plots.update(_kind_plots(fs, ds.sensors, peak, ratio))
    overview = {
        "dataset": ds.name, "format": ds.fmt, "source": ds.source, "rows": f"{len(ds.frame):,}",
        "devices": ds.frame["device_id"].nunique(), "sensors": len(ds.sensors),
        "start": pd.to_datetime(int(ds.frame["ts"].min()), unit="ms", utc=True).isoformat(),
        "end": pd.to_datetime(int(ds.frame["ts"].max()), unit="ms", utc=True).isoformat(),
        "median interval": _fmt_ms(iv), f"gaps > 3× interval": n_gaps, "duplicate timestamps": dups,
        "out-of-order rows (file order)": ooo,
    }
    if ds.has_labels:
        overview["labelled anomalous"] = f"{100 * ds.frame['label'].mean():.2f} %"
    env = Environment(loader=FileSystemLoader(_TEMPLATE.parent), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template(_TEMPLATE.name).render(
        title=f"EDA — {ds.name}",
        overview=overview,
        stats=stats.round(4).to_dict("records"),
        stat_cols=list(stats.columns),
        plots=plots,
        counts=counts.reset_index(names="kind").to_dict("records") if not counts.empty else [],
        kind_plots={k.split(":", 1)[1]: v for k, v in plots.items() if k.startswith("kind:")},
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        seconds=f"{time.perf_counter() - t0:.1f}",
    )
    if out is None:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ds.name)
        out = Path("reports") / f"eda-{safe}.html"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    say(f"wrote {out} in {time.perf_counter() - t0:.1f}s")
    return out.resolve()
