"""`vigil bench training`: train time per kind on the demo data, and Isolation Forest ONNX
scoring speed (stock skl2onnx graph vs Vigil's single TreeEnsembleRegressor graph).

Measured with one single-threaded onnxruntime session (the job's setting), rows from the
demo simulator's feature windows. Results go to ``bench-results/training.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from typing import Any, Callable

import numpy as np

from training.models import KINDS


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            "load_avg_1m": load, "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def demo_frame() -> Any:
    """The dataset `vigil train` simulates when --data is omitted."""
    from training.simulator import SimConfig, to_frame
    from training.train_cli import DEFAULT_SIM

    return to_frame(SimConfig(**DEFAULT_SIM))


def bench_iforest(x: np.ndarray, seconds: float = 1.0, configs: list[dict] | None = None) -> list[dict[str, Any]]:
    """Rows/s at batch 1 and 1024 for each IsolationForest configuration and graph."""
    from training.export import check_parity, rows_per_second
    from training.models import make_detector

    rows = []
    for params in configs or [{"n_estimators": 100, "max_samples": 256}, {"n_estimators": 50, "max_samples": 128}]:
        for graph in ("skl2onnx", "fast"):
            det = make_detector("iforest", graph=graph, **params).fit(x, seed=0)
            t0 = time.perf_counter()
            data = det.to_onnx()
            export_s = time.perf_counter() - t0
            xx = np.tile(x, (max(1, 2048 // len(x) + 1), 1))
            rows.append({
                "graph": graph, **params, "export_s": round(export_s, 3), "onnx_bytes": len(data),
                "rows_per_s_batch1": round(rows_per_second(data, xx[:2048], 1, seconds)),
                "rows_per_s_batch1024": round(rows_per_second(data, xx[:2048], 1024, seconds)),
                "parity_max_rel": check_parity(det, x, data).max_rel,
            })
    return rows


def bench_train(frame: Any, kinds: list[str], say: Callable[[str], None]) -> dict[str, Any]:
    """Wall time of training (fit + export + parity + thresholds, no MLflow) per kind."""
    from training.train import TrainConfig, build, prepare

    t0 = time.perf_counter()
    p = prepare(frame, TrainConfig())
    out: dict[str, Any] = {"prepare_s": round(time.perf_counter() - t0, 2),
                           "windows": {"train": len(p.train), "validation": len(p.val), "test": len(p.test)}}
    for kind in kinds:
        t = time.perf_counter()
        res = build(frame, TrainConfig(kind=kind), prepared=p)
        secs = time.perf_counter() - t
        test = res.metrics["test"]
        out[kind] = {"train_s": round(secs, 2), "fit_s": res.metrics["fit_seconds"],
                     "parity_max_rel": res.parity["max_rel"], "parity_rtol": res.parity["rtol"],
                     "test_f1": test.get("f1"), "test_far": test.get("far"),
                     "test_average_precision": test.get("average_precision")}
        say(f"{kind}: {secs:.1f}s  F1={test.get('f1')}")
    return out


def run(kinds: list[str] | None = None, seconds: float = 1.0, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Both benchmarks."""
    from training.train import TrainConfig, prepare

    frame = demo_frame()
    p = prepare(frame, TrainConfig())
    res = {"machine": machine(), "demo_data": {"rows": len(frame), "devices": int(frame.device_id.nunique())}}
    say("isolation forest graphs")
    res["iforest_scoring"] = bench_iforest(p.f_train, seconds)
    res["train"] = bench_train(frame, kinds or list(KINDS), say)
    return res
