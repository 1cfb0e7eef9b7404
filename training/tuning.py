"""Hyperparameter search with Optuna under a wall-clock budget; every trial is an MLflow run.

Objective (maximised): average precision of the native scores on the labelled validation
windows (threshold-free, so it ranks detectors independently of calibration). Without
labels there is no honest objective, and ``tune`` raises ``TrainingError``. Trials are seeded
(TPE sampler with ``seed``) and run sequentially (2-core machines); the study stops at the
budget, after the trial that is running finishes.

>>> from training.simulator import SimConfig, to_frame
>>> from training.train import prepare
>>> frame = to_frame(SimConfig(devices=3, duration_s=3600, seed=0, start_ms=0, anomaly_rate=0.05))
>>> cfg = TrainConfig(kind="zscore", window=30, slide=10)
>>> res = tune(prepare(frame, cfg), cfg, budget_s=5, max_trials=2, track=False)
>>> len(res.trials), 0.0 <= res.best_value <= 1.0
(2, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from training.train import Prepared, TrainConfig, TrainingError, fit_detector


@dataclass
class TuningResult:
    """Best parameters, their objective value, and every trial's (params, value, seconds);
    ``parent_run_id`` is the MLflow study run (None when not tracked). See the module example."""

    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]
    parent_run_id: str | None


def objective_value(p: Prepared, det: Any) -> float:
    """Average precision of the detector's validation scores (labels required)."""
    from sklearn.metrics import average_precision_score

    y = p.val.labels
    scores = det.score(p.inputs("val", det.input_kind))
    return float(average_precision_score(y, scores))


def tune(p: Prepared, cfg: TrainConfig, budget_s: float, max_trials: int | None = None,
         track: bool = True, progress: Callable[[str], None] | None = None) -> TuningResult:
    """Search ``cfg.kind``'s space for ``budget_s`` seconds (at least one trial)."""
    import optuna

    from training.models import detector_class

    y = p.val.labels
    if y is None or not 0 < int(y.sum()) < len(y):
        raise TrainingError("--tune needs labelled validation windows with both classes "
                            "(the simulator's CSV, SKAB, or NAB with label windows)")
    cls = detector_class(cfg.kind)
    say = progress or (lambda _m: None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=cfg.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    trials: list[dict[str, Any]] = []
    parent = None
    mlflow = None
    if track:
        import mlflow as _mlflow

        from training.tracking import setup

        mlflow = _mlflow
        setup()
        parent = mlflow.start_run(run_name=f"tune-{cfg.name or cfg.kind}")
        mlflow.set_tags({"vigil.model": cfg.name or cfg.kind, "vigil.kind": cfg.kind,
                         "vigil.tuning": "study"})
        mlflow.log_params({"kind": cfg.kind, "budget_s": budget_s, "window": cfg.window,
                           "slide": cfg.slide, "seed": cfg.seed})

    def objective(trial: Any) -> float:
        params = {**cfg.params, **cls.search_space(trial)}
        t0 = time.perf_counter()
        det = fit_detector(p, replace(cfg, params=params), params)
        value = objective_value(p, det)
        secs = time.perf_counter() - t0
        trials.append({"number": trial.number, "params": params, "value": value, "seconds": secs})
        say(f"trial {trial.number}: AP={value:.4f} ({secs:.1f}s) {params}")
        if mlflow is not None:
            with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
                mlflow.set_tags({"vigil.model": cfg.name or cfg.kind, "vigil.kind": cfg.kind,
                                 "vigil.tuning": "trial"})
                mlflow.log_params({f"p.{k}": v for k, v in params.items()})
                mlflow.log_metrics({"val_average_precision": value, "fit_seconds": secs})
        return value

    try:
        study.optimize(objective, timeout=max(budget_s, 0.001), n_trials=max_trials,
                       catch=(ValueError,))
        done = [t for t in study.trials if t.value is not None]
        if not done:
            raise TrainingError("no tuning trial finished; raise --budget-s")
        best = study.best_trial
        best_params = next(t["params"] for t in trials if t["number"] == best.number)
        if mlflow is not None:
            mlflow.log_metric("best_val_average_precision", float(best.value))
            mlflow.log_params({f"best.{k}": v for k, v in best_params.items()})
        return TuningResult(best_params, float(best.value), trials,
                            parent.info.run_id if parent is not None else None)
    finally:
        if mlflow is not None:
            mlflow.end_run()


def baseline_value(p: Prepared, cfg: TrainConfig) -> float:
    """Objective of the default parameters (so tuning can be compared with not tuning)."""
    return objective_value(p, fit_detector(p, cfg))

