"""Training orchestration: dataset → windows → features (udfs FeatureSpec) → fit → ONNX export
→ parity check → thresholds → reference stats → bundle → MLflow.

Training sees exactly what the job computes: windows per device with the job's slide, features
from ``udfs.features.FeatureSpec.compute``, and thresholds calibrated on the ONNX scores (the
numbers the job will compare), not the native ones.

Assumptions: the dataset follows the ``training/data.py`` contract (``device_id``, ``ts`` ms,
one float column per sensor, optional ``label``). Labelled windows (label 1) are left out of
the training rows (the detectors model normal behaviour) but kept for validation/test.
Fails with ``TrainingError`` (bad input/config) or ``ParityError`` (export disagrees).

>>> from training.simulator import SimConfig, to_frame
>>> frame = to_frame(SimConfig(devices=2, duration_s=900, seed=3, start_ms=0))
>>> res = train(frame, TrainConfig(kind="zscore", window=30, slide=10), out_root=None, track=False)
>>> res.manifest["kind"], res.parity["ok"], res.manifest["input"]["kind"]
('zscore', True, 'features')
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from training.windows import Windows, make_windows, time_split

#: Per-sensor / cross-sensor features used when the caller does not choose (all computed by
#: udfs.features; cheap and informative on the simulator and SKAB).
DEFAULT_PER_SENSOR = ["mean", "std", "min", "max", "last", "slope", "diff_std"]
DEFAULT_CROSS = ["mean_abs_corr"]
DEFAULT_KIND = "iforest"


class TrainingError(ValueError):
    """Bad input or configuration (the CLI maps it to exit code 2)."""


class ParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the native scores within tolerance."""


@dataclass
class TrainConfig:
    """What to train: kind, hyperparameters, windowing, calibration.

    Assumes ``per_sensor``/``cross_sensor`` name features ``udfs.features`` computes (checked
    by ``prepare``, which raises ``TrainingError`` otherwise). ``split`` = (train, validation)
    shares per device; the rest is the held-out test part.

    >>> TrainConfig(kind="kmeans", params={"n_clusters": 4}).window
    60
    """

    kind: str = DEFAULT_KIND
    params: dict[str, Any] = field(default_factory=dict)
    window: int = 60
    slide: int = 10
    per_sensor: list[str] = field(default_factory=lambda: list(DEFAULT_PER_SENSOR))
    cross_sensor: list[str] = field(default_factory=lambda: list(DEFAULT_CROSS))
    sensors: list[str] | None = None
    seed: int = 0
    target_far: float = 0.01
    threshold_method: str = "auto"
    name: str | None = None
    max_imputed: float = 0.5
    split: tuple[float, float] = (0.6, 0.2)


@dataclass
class Prepared:
    """Windows and features of the three time-ordered parts."""

    spec: Any
    train: Windows
    val: Windows
    test: Windows
    f_train: np.ndarray
    f_val: np.ndarray
    f_test: np.ndarray

    def inputs(self, part: str, input_kind: str) -> np.ndarray:
        """Model input rows of ``part`` (features or raw windows)."""
        if input_kind == "sequence":
            return getattr(self, part).x
        return getattr(self, f"f_{part}")


@dataclass
class TrainResult:
    """Outcome of one training run: manifest dict, ONNX bytes, reference stats, parity, metrics,
    and (when written/tracked) the bundle folder and MLflow run id. See the module example."""

    manifest: dict[str, Any]
    onnx_bytes: bytes
    reference_stats: dict[str, Any]
    parity: dict[str, Any]
    metrics: dict[str, Any]
    bundle_path: Path | None = None
    run_id: str | None = None
    seconds: float = 0.0


def frame_of(data: Any) -> tuple[Any, list[str], str]:
    """(frame, sensors, name) of a Dataset or a DataFrame."""
    if hasattr(data, "frame"):
        src = getattr(data, "source", "") or getattr(data, "name", "") or "dataset"
        return data.frame, list(data.sensors), str(src)
    reserved = {"device_id", "ts", "label", "fault_kind"}
    return data, [c for c in data.columns if c not in reserved], "frame"


def prepare(data: Any, cfg: TrainConfig) -> Prepared:
    """Windows, time split and FeatureSpec features for ``data``."""
    from udfs.features import FeatureSpec, UnsupportedFeatureSpec

    frame, sensors, _ = frame_of(data)
    sensors = cfg.sensors or sensors
    try:
        spec = FeatureSpec(sensors=sensors, window=cfg.window, slide=cfg.slide,
                           per_sensor=cfg.per_sensor, cross_sensor=cfg.cross_sensor)
        spec.check_supported()
    except (UnsupportedFeatureSpec, ValueError) as e:
        raise TrainingError(f"feature spec: {e}") from e
    try:
        w = make_windows(frame, sensors, cfg.window, cfg.slide, cfg.max_imputed)
    except ValueError as e:
        raise TrainingError(str(e)) from e
    tr, va, te = time_split(w, cfg.window, cfg.slide, cfg.split)
    if len(tr) < 20 or len(va) < 10:
        raise TrainingError(
            f"too little data: {len(tr)} training / {len(va)} validation windows "
            f"(window={cfg.window}, slide={cfg.slide}); need >= 20 / 10")
    return Prepared(spec, tr, va, te, spec.compute(tr.x), spec.compute(va.x),
                    spec.compute(te.x) if len(te) else np.zeros((0, spec.n_features), np.float32))


def normal_rows(p: Prepared, input_kind: str) -> np.ndarray:
    """Training rows without labelled anomalies."""
    x = p.inputs("train", input_kind)
    if p.train.labels is not None and (p.train.labels == 0).sum() >= 20:
        x = x[p.train.labels == 0]
    return x


def evaluate_scores(scores: np.ndarray, w: Windows, thresholds: dict[str, Any]) -> dict[str, Any]:
    """Alarm rate, and with labels point-wise P/R/F1/FAR/MAR + average precision, of windows."""
    from training.thresholds import alarms

    out: dict[str, Any] = {"windows": int(len(scores))}
    if len(scores) == 0:
        return out
    pred = alarms(scores, w.device_ids, thresholds)
    out["alarm_rate"] = float(pred.mean())
    if w.labels is not None and 0 < int(w.labels.sum()) < len(w.labels):
        from sklearn.metrics import average_precision_score

        from training.metrics import point_metrics

        m = point_metrics(w.labels, pred).to_dict()
        out.update({k: float(m[k]) for k in ("precision", "recall", "f1", "far", "mar")})
        out["average_precision"] = float(average_precision_score(w.labels, scores))
    elif w.labels is not None:
        out["far"] = float(pred[w.labels == 0].mean()) if (w.labels == 0).any() else 0.0
    return out


def fit_detector(p: Prepared, cfg: TrainConfig, params: dict[str, Any] | None = None) -> Any:
    """A fitted detector of ``cfg.kind`` on the normal training rows."""
    from training.models import make_detector

    try:
        det = make_detector(cfg.kind, **(cfg.params if params is None else params))
    except ValueError as e:
        raise TrainingError(str(e)) from e
    return det.fit(normal_rows(p, det.input_kind), seed=cfg.seed)


def build(data: Any, cfg: TrainConfig, prepared: Prepared | None = None,
          progress: Callable[[str], None] | None = None) -> TrainResult:
    """Fit, export, check parity, calibrate and assemble the bundle contents (no disk writes)."""
    from training.bundle import fingerprint, library_versions, reference_stats
    from training.export import check_parity, run_onnx, session
    from training.thresholds import calibrate

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    frame, _, source = frame_of(data)
    say("windows and features")
    p = prepared or prepare(data, cfg)
    say(f"fit {cfg.kind} on {len(p.train)} windows")
    t_fit = time.perf_counter()
    det = fit_detector(p, cfg)
    fit_s = time.perf_counter() - t_fit
    say("export ONNX + parity check")
    onnx_bytes = det.to_onnx()
    x_val = p.inputs("val", det.input_kind)
    par = check_parity(det, x_val, onnx_bytes)
    if not par.ok:
        raise ParityError(f"{cfg.kind}: ONNX differs from native on {par.mismatched_rows}/{par.rows} "
                          f"validation rows (max rel {par.max_rel:.3g} > {par.rtol})")
    say("calibrate thresholds")
    sess = session(onnx_bytes)
    s_val = run_onnx(sess, x_val)
    thr = calibrate(s_val, p.val.device_ids, p.val.labels, cfg.target_far, cfg.threshold_method)
    s_test = run_onnx(sess, p.inputs("test", det.input_kind)) if len(p.test) else np.zeros(0)
    metrics = {
        "validation": evaluate_scores(s_val, p.val, thr),
        "test": evaluate_scores(s_test, p.test, thr),
        "parity": par.as_dict(),
        "fit_seconds": round(fit_s, 3),
        "params": {k: v for k, v in det.params.items()},
    }
    stats = reference_stats(p.f_train, p.spec.names(), s_val)
    shape = ([None, p.spec.window, len(p.spec.sensors)] if det.input_kind == "sequence"
             else [None, p.spec.n_features])
    manifest = {
        "name": cfg.name or cfg.kind,
        "version": "",
        "kind": cfg.kind,
        "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "feature_spec": p.spec.model_dump(mode="json"),
        "input": {"name": "input", "kind": det.input_kind, "shape": shape},
        "output": {"name": "score"},
        "score_direction": "higher_is_anomalous",
        "thresholds": thr,
        "training": {"fingerprint": fingerprint(frame), "rows": int(len(frame)), "source": source,
                     "windows": {"train": len(p.train), "validation": len(p.val), "test": len(p.test)},
                     "seed": cfg.seed, "params": _jsonable(det.params)},
        "metrics": _jsonable(metrics),
        "library_versions": library_versions(),
    }
    return TrainResult(manifest, onnx_bytes, stats, par.as_dict(), metrics,
                       seconds=time.perf_counter() - t0)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def train(data: Any, cfg: TrainConfig, out_root: str | Path | None = "models", track: bool = True,
          promote: bool = False, progress: Callable[[str], None] | None = None,
          prepared: Prepared | None = None, run_tags: dict[str, str] | None = None) -> TrainResult:
    """Build a bundle, write it under ``out_root`` (unless None), optionally mark it PROMOTED,
    and record the run in MLflow (params, metrics, the bundle as artifacts, tags)."""
    from training.bundle import promote as promote_bundle
    from training.bundle import write_bundle

    res = build(data, cfg, prepared=prepared, progress=progress)
    if out_root is not None:
        res.bundle_path = write_bundle(out_root, res.manifest, res.onnx_bytes, res.reference_stats)
        res.manifest["version"] = res.bundle_path.name
        if promote:
            promote_bundle(res.bundle_path.parent, res.bundle_path.name)
    if track:
        if progress:
            progress("recording the run in MLflow")
        res.run_id = log_run(res, cfg, promoted=promote and out_root is not None, tags=run_tags)
    return res


def log_run(res: TrainResult, cfg: TrainConfig, promoted: bool, tags: dict[str, str] | None = None) -> str:
    """One MLflow run for a training result; returns the run id."""
    import mlflow

    from training.tracking import TAG_PROMOTED, log_flat, mark_promoted, setup

    setup()
    m = res.manifest
    with mlflow.start_run(run_name=f"{m['name']}-{m['version'] or 'unsaved'}") as run:
        mlflow.set_tags({"vigil.model": m["name"], "vigil.kind": m["kind"],
                         "vigil.version": m["version"], "vigil.fingerprint": m["training"]["fingerprint"],
                         "vigil.source": m["training"]["source"], TAG_PROMOTED: str(promoted).lower(),
                         **(tags or {})})
        mlflow.log_params({"kind": cfg.kind, "window": cfg.window, "slide": cfg.slide,
                           "seed": cfg.seed, "target_far": cfg.target_far,
                           **{f"p.{k}": v for k, v in m["training"]["params"].items()}})
        log_flat("", {k: v for k, v in res.metrics.items() if k != "params"})
        mlflow.log_metric("train_seconds", res.seconds)
        mlflow.log_dict(m["thresholds"], "thresholds.json")
        if res.bundle_path is not None:
            mlflow.log_artifacts(str(res.bundle_path), artifact_path="bundle")
        run_id = run.info.run_id
        artifact_uri = run.info.artifact_uri
    if res.bundle_path is not None:
        from training.tracking import register_bundle

        register_bundle(m["name"], m["version"], run_id, artifact_uri)
    if promoted:
        mark_promoted(m["name"], m["version"])
    return run_id
