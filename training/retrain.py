"""Scheduled retraining (the training container's entry point, ``vigil retrain``).

1. Load the data (a path in any ``training.data`` format, or the job's Parquet archive).
2. Train a candidate on the first part of each device's history (``training.train``: train /
   validation split, thresholds calibrated on validation).
3. Evaluate the candidate AND the live bundle (``models/<name>/PROMOTED``, else the newest)
   on the same held-out readings — the last part of every device's history, which the
   candidate never saw — each through ``udfs.scorer.Scorer`` (the job's scoring code) at its
   own calibrated thresholds.
4. Write and promote the candidate only if it is better.

"Better" (the metric agreed with evaluation, ``training.metrics``):
  * held-out labels with both classes → point-wise F1 of window alarms (ties: average
    precision); better = candidate F1 > live F1 + ``min_improvement``;
  * no labels → calibration error ``|alarm rate − target FAR|`` of each bundle's own target;
    better = candidate error < live error − ``min_improvement``.
  No live bundle → the candidate is promoted.

Exit codes (for cron / CI): 0 promoted, 3 candidate not better (nothing written),
2 bad input or configuration, 1 unexpected error.

>>> EXIT_PROMOTED, EXIT_NOT_BETTER, EXIT_BAD_INPUT, EXIT_ERROR
(0, 3, 2, 1)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from training.train import TrainConfig, TrainingError, frame_of, prepare

EXIT_PROMOTED = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_BETTER = 3


@dataclass
class RetrainOutcome:
    """What retraining decided (``code`` = the exit code), with the numbers behind it.

    >>> RetrainOutcome(EXIT_NOT_BETTER, "held-out F1 candidate 0.5 vs live 0.6").code
    3
    """

    code: int
    reason: str
    metric: str = ""
    candidate: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] | None = None
    live_version: str | None = None
    promoted_version: str | None = None
    run_id: str | None = None


def heldout_frame(frame: Any, starts: dict[str, int]) -> Any:
    """Rows of each device from its held-out start time on (devices without one are dropped)."""
    cut = frame["device_id"].astype(str).map(starts)
    return frame[cut.notna() & (frame["ts"] >= cut.fillna(0))]


def score_bundle(bundle_dir: Path, frame: Any) -> dict[str, Any]:
    """Windows of ``frame`` per the bundle's own spec, scored by ``udfs.scorer.Scorer`` and
    judged at the bundle's thresholds."""
    from udfs.bundle import load_bundle
    from udfs.scorer import Scorer

    from training.train import evaluate_scores
    from training.windows import make_windows

    b = load_bundle(bundle_dir)
    spec = b.manifest.feature_spec
    missing = [s for s in spec.sensors if s not in frame.columns]
    if missing:
        raise TrainingError(f"bundle {b.path} needs sensors {missing} the data lacks")
    w = make_windows(frame, spec.sensors, spec.window, spec.slide)
    scores = Scorer(b).score_windows(w.x)
    thr = b.manifest.thresholds.model_dump(by_alias=True)
    out = evaluate_scores(scores, w, thr)
    out["target_far"] = float(b.manifest.thresholds.target_false_alarm_rate or 0.01)
    out["calibration_error"] = abs(out.get("alarm_rate", 0.0) - out["target_far"])
    return out


def compare(cand: dict[str, Any], live: dict[str, Any], min_improvement: float) -> tuple[bool, str, str]:
    """(candidate better?, metric name, explanation)."""
    if "f1" in cand and "f1" in live:
        c, l_ = cand["f1"], live["f1"]
        if abs(c - l_) <= 1e-12 and min_improvement <= 0:
            better = cand.get("average_precision", 0) > live.get("average_precision", 0)
        else:
            better = c > l_ + min_improvement
        return better, "f1", f"held-out F1 candidate {c:.4f} vs live {l_:.4f}"
    c, l_ = cand["calibration_error"], live["calibration_error"]
    return (c < l_ - min_improvement, "calibration_error",
            f"held-out |alarm rate - target FAR| candidate {c:.4f} vs live {l_:.4f}")


def retrain(data: Any, cfg: TrainConfig, models_root: str | Path, min_improvement: float = 0.0,
            track: bool = True, progress: Callable[[str], None] | None = None) -> RetrainOutcome:
    """Train a candidate, compare it with the live bundle on held-out data, promote if better."""
    from udfs.bundle import BundleError, resolve_bundle_dir

    from training.bundle import promote, write_bundle
    from training.train import build, log_run

    say = progress or (lambda _m: None)
    frame, _, _ = frame_of(data)
    name = cfg.name or cfg.kind
    cfg.name = name
    # Candidate sees the first 80 % of each device (train 60 / validation 20); test = held out.
    p = prepare(data, cfg)
    if len(p.test) < 10:
        raise TrainingError(f"only {len(p.test)} held-out windows; need more data to compare")
    starts = {}
    for dev in np.unique(p.test.device_ids):
        m = p.test.device_ids == dev
        starts[str(dev)] = int(p.test.start_ts[m].min())
    held = heldout_frame(frame, starts)
    say(f"candidate {cfg.kind}: training on {len(p.train)} windows")
    res = build(data, cfg, prepared=p, progress=say)
    model_dir = Path(models_root) / name
    live_dir: Path | None = None
    try:
        live_dir = resolve_bundle_dir(model_dir) if model_dir.exists() else None
    except BundleError:
        live_dir = None
    with tempfile.TemporaryDirectory(prefix="vigil-candidate-") as tmp:
        cand_dir = write_bundle(tmp, res.manifest, res.onnx_bytes, res.reference_stats)
        say(f"scoring held-out data ({len(held)} readings)")
        cand = score_bundle(cand_dir, held)
        live = score_bundle(live_dir, held) if live_dir is not None else None
    if live is None:
        better, metric, why = True, "", "no live bundle"
    else:
        better, metric, why = compare(cand, live, min_improvement)
    out = RetrainOutcome(EXIT_PROMOTED if better else EXIT_NOT_BETTER, why, metric, cand, live,
                         live_dir.name if live_dir is not None else None)
    res.metrics["heldout"] = cand
    res.manifest["metrics"]["heldout"] = cand
    if live is not None:
        res.manifest["metrics"]["heldout_live"] = {"version": out.live_version, **live}
    if better:
        res.bundle_path = write_bundle(models_root, res.manifest, res.onnx_bytes, res.reference_stats)
        res.manifest["version"] = res.bundle_path.name
        promote(res.bundle_path.parent, res.bundle_path.name)
        out.promoted_version = res.bundle_path.name
    if track:
        out.run_id = log_run(res, cfg, promoted=better,
                             tags={"vigil.retrain": "promoted" if better else "not_better",
                                   "vigil.live_version": out.live_version or ""})
    return out
