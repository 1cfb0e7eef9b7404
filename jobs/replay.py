"""Offline replay: a dataset through the job's semantics as ``udfs/`` defines them
(DeviceProcessor → ``udfs.batch.score_batch`` → AlertPolicy), so offline evaluation measures
what production does. The job runs the per-device parts in the JVM, proven equal to these
(tests/test_jvm_equals_udfs.py, tests/test_job_equals_replay.py); the batch scoring step is
the very same function.

Order of work mirrors the job: readings of each device in time order (``Dataset.frame`` is
sorted by device, ts; pass ``sort=False`` datasets to replay delivery order) feed the
device's :class:`~udfs.device_state.DeviceProcessor`; event-time silence timers fire before
the first reading at/after their deadline; ready windows are queued and scored in batches
of ``batch_size`` (as the job's vectorized scorer does); scored windows go, per device in
window order, through :class:`~udfs.alerts.AlertPolicy` (windows whose gaps were too long to
impute are skipped, as in the job). Scores are row-independent, so the result does not
depend on ``batch_size`` (tested).

Per-point output: each reading gets the score/threshold/alert state of the latest window of
its device that ended at or before it (NaN before the first window).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from udfs.alerts import AlertPolicy, AlertState
from udfs.batch import explain_floor, score_batch
from udfs.bundle import Bundle, load_bundle
from udfs.config import JobConfig
from udfs.device_state import Context, DeviceProcessor, Window
from udfs.features import FeatureSpec
from udfs.schema import Alert, Reading

OnlineKind = Literal["zscore", "surprise"]


class ReplayError(ValueError):
    """The dataset and the bundle/config do not fit (message says how)."""


@dataclass
class ReplayResult:
    """``points``: per reading (device_id, ts, raw_score, score, threshold, is_alert_open,
    [label, fault_kind]); ``windows``: per scored window; ``alerts``: open/close events in
    device, time order; ``late``: the readings dropped as late (device_id, ts, and ``row``, their
    index label in the dataset's frame; the job sends them to the DLQ with reason ``late``);
    ``stats``: counts and rates."""

    points: pd.DataFrame
    windows: pd.DataFrame
    alerts: list[Alert]
    stats: dict[str, Any] = field(default_factory=dict)
    late: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["device_id", "ts", "row"]))

    def write(self, out_dir: str | Path, fmt: Literal["csv", "parquet"] = "csv") -> dict[str, Path]:
        """Write ``scores.csv|parquet``, ``windows.csv|parquet``, ``alerts.jsonl``, ``stats.json``."""
        import json

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        paths = {"scores": d / f"scores.{fmt}", "windows": d / f"windows.{fmt}",
                 "alerts": d / "alerts.jsonl", "stats": d / "stats.json"}
        for key in ("scores", "windows"):
            df = self.points if key == "scores" else self.windows
            if fmt == "csv":
                df.to_csv(paths[key], index=False)
            else:
                df.to_parquet(paths[key], index=False)
        with open(paths["alerts"], "wb") as fh:
            for a in self.alerts:
                fh.write(a.to_json() + b"\n")
        paths["stats"].write_text(json.dumps(self.stats, indent=1, default=str))
        return paths


def _make_scorer(bundle: Bundle | str | Path | None, online: OnlineKind | None, dataset_sensors: list[str],
                 config: JobConfig, online_spec: FeatureSpec | None) -> Any:
    if bundle is not None and online is None:
        from udfs.scorer import Scorer

        return Scorer(bundle if isinstance(bundle, Bundle) else load_bundle(bundle))
    if online == "zscore":
        from udfs.online import OnlineZScore

        spec = online_spec or FeatureSpec(sensors=dataset_sensors, window=config.window or 10,
                                          slide=config.slide or 1, per_sensor=["last", "mean"])
        return OnlineZScore(spec)
    if online == "surprise":
        from udfs.online import OnlineSurprise

        spec = online_spec or FeatureSpec(sensors=dataset_sensors, window=config.window or 16,
                                          slide=config.slide or 1, per_sensor=["mean", "std", "last"])
        # its per-detector z uses the job's likelihood history / short-average settings
        return OnlineSurprise(spec, history=config.likelihood_history, short=config.likelihood_short,
                              min_history=config.likelihood_min_history)
    raise ReplayError("replay needs a bundle or an online mode (online='zscore' | 'surprise')")


def replay(
    dataset: Any,
    bundle: Bundle | str | Path | None,
    config: JobConfig | None = None,
    *,
    batch_size: int | None = None,
    online: OnlineKind | None = None,
    online_spec: FeatureSpec | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay ``dataset`` (a ``training.data.Dataset`` or anything with ``frame`` and
    ``sensors``) through the job's per-device logic; see the module doc.

    ``online="zscore"`` (with ``bundle=None``) fits a z-score on each device's windows seen so
    far (NAB-style online detection); pair it with ``threshold_mode="likelihood"`` or
    ``"fixed"``. ``online="surprise"`` (:class:`udfs.online.OnlineSurprise`: nearest earlier
    window + feature z-score, scored in sigmas) pairs with ``threshold_mode="fixed"``.
    ``progress(n)`` is called with the number of readings processed since the last call. Raises :class:`ReplayError` when the dataset lacks a sensor the model needs.
    """
    cfg = config or JobConfig()
    t0 = time.perf_counter()
    frame: pd.DataFrame = dataset.frame
    scorer = _make_scorer(bundle, online, list(dataset.sensors), cfg, online_spec)
    spec: FeatureSpec = scorer.spec
    missing = [s for s in spec.sensors if s not in frame.columns]
    if missing:
        raise ReplayError(f"the model needs sensor(s) {missing}; dataset {getattr(dataset, 'name', '?')!r} "
                          f"has {list(dataset.sensors)}")
    ctx = Context(cfg, spec)
    thresholds = scorer.bundle.manifest.thresholds if hasattr(scorer, "bundle") else None
    policy = AlertPolicy(cfg, thresholds)
    model = scorer.model_ref
    bs = batch_size or cfg.score_batch_size
    is_online = online is not None

    procs: dict[str, DeviceProcessor] = {}
    astates: dict[str, AlertState] = {}
    pending: list[Window] = []
    win_rows: list[tuple] = []
    alerts: list[tuple[int, int, Alert]] = []  # (order key, seq, alert) for a stable final order
    seq = 0
    late_rows: list[tuple[str, int, Any]] = []
    n_skipped = 0

    explain_from = explain_floor(thresholds, cfg)

    def flush() -> None:
        nonlocal seq, n_skipped
        if not pending:
            return
        r = score_batch(scorer, np.stack([p.values for p in pending]), cfg, max_gap=ctx.max_gap,
                        explain_from=explain_from,
                        device_ids=[p.device_id for p in pending] if is_online else None)
        for i, p in enumerate(pending):
            if not r.ok[i]:
                n_skipped += 1
                continue
            st = astates.get(p.device_id)
            if st is None:
                st = astates[p.device_id] = policy.new_state()
            frac = float(r.imputed_fraction[i])
            d = policy.on_score(st, p.device_id, p.start_ms, p.end_ms, float(r.scores[i]), model, r.top[i], frac)
            win_rows.append((p.device_id, p.start_ms, p.end_ms, float(r.scores[i]), d.score, d.threshold,
                             d.is_open, frac, p.n_readings))
            for a in d.alerts:
                alerts.append((p.end_ms, seq, a))
                seq += 1
        pending.clear()

    sensors = list(spec.sensors)
    n_done = 0
    for dev, g in frame.groupby("device_id", sort=False):
        dev = str(dev)
        proc = procs[dev] = ctx.new(dev)
        ts_arr = g["ts"].to_numpy(np.int64)
        rows = g.index
        vals = g[sensors].to_numpy(np.float64)
        for i in range(len(ts_arr)):
            ts = int(ts_arr[i])
            due = proc.next_timer_ms()
            if due is not None and ts >= due:
                for a in proc.on_timer(due):
                    alerts.append((due, seq, a))
                    seq += 1
            row = vals[i]
            values = {s: (None if math.isnan(v) else float(v)) for s, v in zip(sensors, row)}
            step = proc.on_reading(Reading(dev, ts, values))
            if step.late:
                late_rows.append((dev, ts, rows[i]))
            for a in step.alerts:
                alerts.append((ts, seq, a))
                seq += 1
            if step.windows:
                pending.extend(step.windows)
                if len(pending) >= bs:
                    flush()
        n_done += len(ts_arr)
        if progress is not None:
            progress(len(ts_arr))
    flush()

    windows = pd.DataFrame(win_rows, columns=["device_id", "window_start", "window_end", "raw_score", "score",
                                              "threshold", "is_alert_open", "imputed_fraction", "n_readings"])
    points = _per_point(frame, windows)
    alerts_sorted = [a for _, _, a in sorted(alerts, key=lambda x: (x[2].device_id, x[0], x[1]))]
    secs = time.perf_counter() - t0
    stats = {
        "readings": int(len(frame)), "devices": len(procs), "late": len(late_rows),
        "windows_scored": int(len(windows)), "windows_skipped_gaps": n_skipped,
        "alerts_opened": sum(1 for a in alerts_sorted if a.status == "open"),
        "alerts_by_kind": pd.Series([a.kind for a in alerts_sorted if a.status == "open"], dtype=object)
        .value_counts().to_dict(),
        "model": model, "batch_size": bs, "seconds": round(secs, 3),
        "readings_per_s": round(len(frame) / secs, 1) if secs > 0 else None,
    }
    warnings = []
    if len(frame) > 1:
        gaps = frame.groupby("device_id", sort=False)["ts"].diff().dropna()
        med = float(gaps.median()) if len(gaps) else 0.0
        stats["median_interval_ms"] = med
        if med >= cfg.silent_after_ms:
            warnings.append(f"the data's median sampling interval ({med:.0f} ms) is >= silent_after_ms "
                            f"({cfg.silent_after_ms} ms): nearly every reading opens/closes stream_silent; "
                            "raise silent_after_ms")
    stats["warnings"] = warnings
    return ReplayResult(points, windows, alerts_sorted, stats, pd.DataFrame(late_rows, columns=["device_id", "ts", "row"]))


def _per_point(frame: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    keep = ["device_id", "ts"] + [c for c in ("label", "fault_kind") if c in frame.columns]
    pts = frame[keep].copy()
    pts["device_id"] = pts["device_id"].astype(str)
    pts["_order"] = np.arange(len(pts))
    cols = ["raw_score", "score", "threshold", "is_alert_open"]
    if windows.empty:
        for c in cols:
            pts[c] = np.nan if c != "is_alert_open" else False
        return pts.drop(columns="_order")
    w = windows[["device_id", "window_end"] + cols].rename(columns={"window_end": "ts"})
    w = w.astype({"ts": "int64"}).sort_values("ts", kind="stable")
    # several windows can end at one ts (time windows, merges): the last one wins
    w = w.drop_duplicates(["device_id", "ts"], keep="last")
    left = pts.astype({"ts": "int64"}).sort_values("ts", kind="stable")
    m = pd.merge_asof(left, w, on="ts", by="device_id", direction="backward")
    m = m.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    m["is_alert_open"] = m["is_alert_open"].astype("boolean").fillna(False).astype(bool)
    return m
