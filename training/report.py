"""Evaluation outputs: result files, the comparison table, plots and the HTML/Markdown report.

``save_result`` writes what one ``vigil evaluate`` run measured -- ``<stem>.json`` (metrics),
``<stem>.md`` (table row) and ``<stem>.npz`` (per-row series for plots: values, scores,
labels, detections, thresholds). ``build_report`` reads a folder of such results and writes
``report.html`` (Jinja2 template ``training/templates/report.html.j2``, figures inline as
PNG) and ``summary.md``: one table with every model on the simulator, NAB's categories
(three profiles) and SKAB valve1, then per dataset example series with labelled anomalies
shaded and detections marked, score distributions and the chosen thresholds.
"""

from __future__ import annotations

import base64
import io
import json
import math
import platform
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_SHORT = {"standard": "std", "reward_low_FP_rate": "lowFP", "reward_low_FN_rate": "lowFN"}
NAB_CATS = ("artificialWithAnomaly", "realKnownCause", "realAdExchange")


def result_stem(model: str, data: str) -> str:
    """File-name stem for a (model, data) pair: ``iforest__nab`` etc.

    >>> result_stem("iforest", "nab:realKnownCause"), result_stem("models/x/v1", "skab")
    ('iforest__nab-realKnownCause', 'models-x-v1__skab')
    """
    clean = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")  # noqa: E731
    return f"{clean(model)}__{clean(data)}"


def save_result(res: Any, out_dir: str | Path) -> Path:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.npz`` for an EvaluationResult."""
    from training.evaluate import public_results

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = result_stem(res.model, res.data)
    pub = public_results(res)
    (out / f"{stem}.json").write_text(pub.to_json())
    (out / f"{stem}.md").write_text(pub.to_markdown())
    arrays: dict[str, np.ndarray] = {}
    nab = res.results.get("nab", {}).get("corpus", {})
    thr = nab.get("standard", {}).get("threshold")
    for r in res.results.get("_nab_runs", []):
        k = f"nab|{r.name}"
        arrays[f"{k}|ts"], arrays[f"{k}|value"], arrays[f"{k}|score"] = r.ts_ms, r.values, r.scores
        arrays[f"{k}|threshold"] = np.array([np.nan if thr is None else thr])
    for r in res.results.get("_skab_runs", []):
        k = f"skab|{r.name}"
        arrays[f"{k}|ts"] = r.frame["ts"].to_numpy()
        arrays[f"{k}|value"] = r.frame["Accelerometer1RMS"].to_numpy()
        arrays[f"{k}|label"] = r.frame["label"].to_numpy()
        arrays[f"{k}|score"], arrays[f"{k}|pred"] = r.scores, r.preds.astype(np.int8)
        arrays[f"{k}|threshold"] = np.array([r.threshold])
    rows = res.results.get("_labelled_rows")
    if rows is not None and len(rows):
        sensors = [c for c in rows.columns if c not in ("device_id", "ts", "label", "fault_kind", "score", "pred")]
        for dev in list(dict.fromkeys(rows["device_id"]))[:2]:
            d = rows[rows["device_id"] == dev]
            k = f"labelled|{dev}"
            arrays[f"{k}|ts"], arrays[f"{k}|value"] = d["ts"].to_numpy(), d[sensors[0]].to_numpy(np.float64)
            arrays[f"{k}|label"], arrays[f"{k}|score"] = d["label"].to_numpy(), d["score"].to_numpy(np.float64)
            arrays[f"{k}|pred"] = d["pred"].to_numpy().astype(np.int8)
            thr_l = res.results["labelled"].get("threshold")
            arrays[f"{k}|threshold"] = np.array([np.nan if thr_l is None else thr_l])
    np.savez_compressed(out / f"{stem}.npz", **arrays)
    return out / f"{stem}.json"


@dataclass
class Loaded:
    """One saved evaluation result."""

    model: str
    data: str
    doc: dict[str, Any]
    series: dict[str, dict[str, np.ndarray]]


def load_results(folder: str | Path) -> list[Loaded]:
    """Every ``*.json`` result (with its ``.npz`` series when present) in ``folder``."""
    out = []
    for p in sorted(Path(folder).glob("*__*.json")):
        doc = json.loads(p.read_text())
        series: dict[str, dict[str, np.ndarray]] = {}
        npz = p.with_suffix(".npz")
        if npz.exists():
            with np.load(npz) as z:
                for key in z.files:
                    fam, name, field = key.split("|")
                    series.setdefault(f"{fam}|{name}", {})[field] = z[key]
        out.append(Loaded(doc["model"], doc["data"], doc, series))
    return out


def table_rows(results: list[Loaded]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: one row per model, columns per dataset/profile/metric."""
    cols = ["model"]
    for c in NAB_CATS:
        cols += [f"NAB {c} {PROFILE_SHORT[p]}" for p in PROFILE_SHORT]
    cols += ["NAB corpus std", "SKAB F1", "SKAB FAR %", "SKAB MAR %", "sim F1", "sim event recall",
             "sim delay s"]
    by_model: dict[str, dict[str, str]] = {}
    for r in results:
        row = by_model.setdefault(r.model, {"model": r.model})
        res = r.doc.get("results", {})
        for g, profs in res.get("nab", {}).items():
            for p, v in profs.items():
                key = "NAB corpus std" if (g == "corpus" and p == "standard") else f"NAB {g} {PROFILE_SHORT[p]}"
                if g != "corpus" or p == "standard":
                    if g == "corpus" and not r.data == "nab":
                        continue
                    row[key] = f"{v['score']:.1f}"
        sk = res.get("skab")
        if sk:
            row.update({"SKAB F1": f"{sk['f1']:.3f}", "SKAB FAR %": f"{100 * sk['far']:.1f}",
                        "SKAB MAR %": f"{100 * sk['mar']:.1f}"})
        lab = res.get("labelled")
        if lab and r.data.startswith("sim"):
            d = lab["event"].get("mean_delay_ms")
            row.update({"sim F1": f"{lab['point']['f1']:.3f}", "sim event recall": f"{lab['event']['recall']:.2f}",
                        "sim delay s": "–" if d is None else f"{d / 1000:.0f}"})
    return cols, [[row.get(c, "–") for c in cols] for row in by_model.values()]


def markdown_table(cols: list[str], rows: list[list[str]]) -> str:
    """Plain GitHub Markdown table."""
    return ("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
            + "".join("| " + " | ".join(r) + " |\n" for r in rows))


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _nab_windows() -> dict[str, list[tuple[int, int]]]:
    from training.evaluate import datasets_root
    from training.nab_scorer import load_nab_windows

    p = datasets_root() / "nab" / "labels" / "combined_windows.json"
    return load_nab_windows(p) if p.exists() else {}


def series_figure(title: str, s: dict[str, np.ndarray], windows: list[tuple[int, int]] | None = None) -> str:
    """Series (top) and score with threshold (bottom); labelled anomalies shaded red,
    detections marked orange. Returns a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = s["ts"].astype("datetime64[ms]")
    thr = float(s.get("threshold", np.array([np.nan]))[0])
    score = s["score"].astype(np.float64)
    pred = s["pred"].astype(bool) if "pred" in s else (np.nan_to_num(score, nan=-np.inf) >= thr if math.isfinite(thr)
                                                          else np.zeros(score.size, bool))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True)
    a1.plot(ts, s["value"], lw=0.6, color="#345")
    if windows:
        for a, b in windows:
            for ax in (a1, a2):
                ax.axvspan(np.datetime64(int(a), "ms"), np.datetime64(int(b), "ms"), color="red", alpha=0.15)
    if "label" in s:
        lab = s["label"].astype(bool)
        a1.scatter(ts[lab], s["value"][lab], s=3, color="red", label="labelled anomaly")
    a1.scatter(ts[pred], s["value"][pred], s=10, color="orange", marker="x", label="detection")
    a1.legend(loc="upper left", fontsize=7)
    a1.set_title(title, fontsize=9)
    a2.plot(ts, score, lw=0.6, color="#555")
    if math.isfinite(thr):
        a2.axhline(thr, color="orange", ls="--", lw=0.8, label=f"threshold {thr:.3g}")
        a2.legend(loc="upper left", fontsize=7)
    a2.set_ylabel("score", fontsize=8)
    return _png(fig)


def distribution_figure(title: str, normal: np.ndarray, anomalous: np.ndarray, thr: float) -> str:
    """Score histograms of normal vs labelled-anomalous rows with the threshold line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    n, a = normal[np.isfinite(normal)], anomalous[np.isfinite(anomalous)]
    allv = np.r_[n, a]
    if allv.size:
        bins = np.linspace(np.quantile(allv, 0.001), np.quantile(allv, 0.999) + 1e-12, 60)
        ax.hist(n, bins=bins, alpha=0.6, density=True, label=f"normal ({n.size})")
        if a.size:
            ax.hist(a, bins=bins, alpha=0.6, density=True, label=f"anomalous ({a.size})", color="red")
    if math.isfinite(thr):
        ax.axvline(thr, color="orange", ls="--", label=f"threshold {thr:.3g}")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def figures_for(r: Loaded, max_series: int = 3) -> list[dict[str, str]]:
    """Example series and score distributions of one result."""
    figs: list[dict[str, str]] = []
    nab_w = _nab_windows() if any(k.startswith("nab|") for k in r.series) else {}
    normal, anomalous, thr = [], [], float("nan")
    count = 0
    for key, s in r.series.items():
        fam, name = key.split("|", 1)
        wins = nab_w.get(name) if fam == "nab" else None
        thr = float(s.get("threshold", np.array([np.nan]))[0])
        if fam == "nab" and wins is not None:
            lab = np.zeros(s["ts"].size, bool)
            for a, b in wins:
                lab |= (s["ts"] >= a) & (s["ts"] <= b)
        else:
            lab = s.get("label", np.zeros(s["ts"].size)).astype(bool)
        start = 400 if fam == "skab" else 0
        normal.append(s["score"][start:][~lab[start:]])
        anomalous.append(s["score"][start:][lab[start:]])
        if count < max_series:
            figs.append({"title": f"{r.model} on {name}", "png": series_figure(f"{r.model} · {name}", s, wins)})
            count += 1
    if normal:
        figs.append({"title": f"{r.model} on {r.data}: score distribution",
                     "png": distribution_figure(f"{r.model} · {r.data} · scores (last file's threshold)",
                                                np.concatenate(normal), np.concatenate(anomalous), thr)})
    return figs


def machine_info() -> str:
    """Short description of this machine for the report footer."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


PUBLISHED_NOTE = ("Standard profile. Per-file scores published in numenta/NAB (results/<detector>/"
                 "<detector>_standard_scores.csv, thresholds optimised on NAB's 58 files), "
                 "normalised on the files above; training/nab_published.py.")


def published_table() -> dict[str, Any] | None:
    """ARTime / HTM / CAD OSE re-normalised on our NAB files (``None`` without NAB labels)."""
    from training.nab_published import FULL_CORPUS_STANDARD, published_on_subset

    labels = _nab_windows()
    if not labels:
        return None
    res = published_on_subset(labels)
    cats = [c for c in next(iter(res.values())) if c != "corpus"]
    cols = ["detector", *(f"NAB {c} std" for c in cats), "NAB corpus std", "NAB 58-file std (scoreboard)"]
    rows = [[det, *(f"{v[c]:.1f}" for c in cats), f"{v['corpus']:.1f}", f"{FULL_CORPUS_STANDARD[det]:.1f}"]
            for det, v in res.items()]
    return {"cols": cols, "rows": rows}


def build_report(results_dir: str | Path, out_dir: str | Path, with_figures: bool = True) -> tuple[Path, Path]:
    """Render ``report.html`` and ``summary.md`` from the results in ``results_dir``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    results = load_results(results_dir)
    if not results:
        raise FileNotFoundError(f"no evaluation results (*__*.json) in {results_dir}; run `vigil evaluate` first")
    cols, rows = table_rows(results)
    md_table = markdown_table(cols, rows)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_info()
    sections = []
    for r in results:
        sections.append({
            "model": r.model, "data": r.data,
            "seconds": r.doc.get("seconds"),
            "config": json.dumps(r.doc.get("config", {}), indent=1),
            "thresholds": _thresholds(r.doc),
            "figures": figures_for(r) if with_figures else [],
        })
    published = published_table() if any(r.data.startswith("nab") for r in results) else None
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(cols=cols, rows=rows, sections=sections, when=when,
                                                      machine=machine, published=published,
                                                      published_note=PUBLISHED_NOTE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(html)
    md = (f"# Vigil evaluation summary\n\nMeasured {when} on {machine}.\n\n{md_table}\n"
          "NAB: normalised scores (null detector 0, perfect 100), threshold optimised per detector "
          "and profile over the available corpus. SKAB: valve1, first 400 rows train, pooled over files. "
          "sim: simulator, time-ordered split.\n")
    if published:
        md += ("\n## Published NAB detectors on the same files\n\n"
               + markdown_table(published["cols"], published["rows"]) + "\n" + PUBLISHED_NOTE + "\n")
    (out / "summary.md").write_text(md)
    return out / "report.html", out / "summary.md"


def _thresholds(doc: dict[str, Any]) -> list[str]:
    res = doc.get("results", {})
    out = []
    for p, v in res.get("nab", {}).get("corpus", {}).items():
        out.append(f"NAB {p}: {v.get('threshold')}")
    sk = res.get("skab")
    if sk:
        out += [f"SKAB {k}: {v['threshold']:.4g}" for k, v in list(sk["files"].items())[:16]]
    lab = res.get("labelled")
    if lab:
        out.append(f"labelled: {lab.get('threshold')}")
    return out
