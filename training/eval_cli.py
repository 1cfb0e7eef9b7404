"""`vigil evaluate` and `vigil report` (light module: heavy imports happen inside the commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ALL_KINDS = "zscore,iforest,ocsvm,kmeans,autoencoder,lstm_autoencoder,online_zscore,online_surprise"
TRAIN_ONCE_ON_NAB = {"autoencoder", "lstm_autoencoder"}  # torch kinds: re-training 100x per corpus is too slow here
NAB_ONLY = {"online_zscore", "online_surprise"}  # replay's online mode learns from the scored rows: NAB's protocol only
DEFAULT_RESULTS = "bench-results/evaluation"


def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", "-d", help="nab[:CATEGORY] | skab[:valve1] | sim[:SEED] | PATH (labelled CSV/dir).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model kind, trained per file (zscore, iforest, ...).")] = None,
    bundle: Annotated[Optional[str], typer.Option("--bundle", "-b", help="Evaluate this bundle instead of training.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for <model>__<data>.json/.md/.npz.")] = Path(DEFAULT_RESULTS),
    window: Annotated[Optional[int], typer.Option(help="Window length in readings (default per dataset).")] = None,
    features: Annotated[Optional[str], typer.Option(help="Comma-separated per-sensor features.")] = None,
    refit_every: Annotated[int, typer.Option(help="NAB: re-train on everything seen every N rows (0: train once).")] = 1000,
    calibration: Annotated[str, typer.Option(help="NAB score: job (the job's likelihood) | likelihood | none.")] = "job",
    nab_detections: Annotated[str, typer.Option(help="NAB: alert_opens (rows where the job's alert policy opens an alert) | scores (every row).")] = "alert_opens",
    likelihood_history: Annotated[int, typer.Option(help="NAB, job likelihood: history of scores.")] = 1000,
    likelihood_threshold: Annotated[float, typer.Option(help="NAB, job likelihood: alert threshold (0.99865 = 3 sigmas).")] = 0.99865,
    min_duration: Annotated[int, typer.Option(help="NAB, job likelihood: the alert policy's min duration in windows.")] = 1,
    surprise_threshold: Annotated[float, typer.Option(help="NAB, online_surprise: alert threshold in sigmas.")] = 3.0,
    skab_q: Annotated[float, typer.Option(help="SKAB: training-score quantile for the UCL.")] = 0.99,
    skab_factor: Annotated[float, typer.Option(help="SKAB: UCL factor.")] = 4 / 3,
    skab_policy: Annotated[str, typer.Option(help="SKAB detections: threshold | alerts (alert policy).")] = "threshold",
    policy: Annotated[str, typer.Option(help="Labelled data detections: alerts | threshold.")] = "alerts",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    limit_files: Annotated[Optional[int], typer.Option(help="Only the first N files (smoke runs).", hidden=True)] = None,
) -> None:
    """Evaluate a detector through replay: NAB score, SKAB F1/FAR/MAR, or point/event metrics.

    Example: vigil evaluate --model iforest --data skab
    """
    from training.evaluate import EvalConfig, run_evaluation
    from training.report import save_result

    try:
        cfg = EvalConfig(window=window, per_sensor=features.split(",") if features else None,
                         nab_refit_every=refit_every or None, nab_calibration=calibration, nab_detections=nab_detections, skab_q=skab_q,
                         likelihood_history=likelihood_history, likelihood_threshold=likelihood_threshold,
                         min_duration=min_duration, surprise_threshold=surprise_threshold,
                         skab_factor=skab_factor, skab_policy=skab_policy, policy=policy, seed=seed)
        res = run_evaluation(data, kind=model, bundle=bundle, cfg=cfg,
                             progress=lambda m: typer.echo(m, err=True), limit_files=limit_files)
    except (ValueError, FileNotFoundError) as exc:
        # Bad arguments, missing datasets, a dataset the model cannot use (incl. TrainingError).
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except RuntimeError as exc:  # e.g. training.train's ParityError on one of the files
        typer.echo(f"evaluation failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    path = save_result(res, out)
    typer.echo(res.to_markdown())
    typer.echo(f"results: {path} ({res.seconds:.0f} s)", err=True)


def report_cmd(
    results: Annotated[Path, typer.Option("--results", help="Folder of `vigil evaluate` results.")] = Path(DEFAULT_RESULTS),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html and summary.md.")] = Path("bench-results/report"),
    run: Annotated[bool, typer.Option("--run/--no-run", help="First evaluate every kind on every dataset.")] = False,
    kinds: Annotated[str, typer.Option(help="Kinds to run with --run.")] = ALL_KINDS,
    datasets: Annotated[str, typer.Option(help="Datasets to run with --run.")] = "sim,nab,skab",
    figures: Annotated[bool, typer.Option("--figures/--no-figures")] = True,
) -> None:
    """HTML report + Markdown summary: every model on the simulator, NAB categories and SKAB valve1."""
    from training.report import build_report

    if run:
        from training.evaluate import EvalConfig, run_evaluation
        from training.report import save_result

        for kind in kinds.split(","):
            for data in datasets.split(","):
                if kind in NAB_ONLY and not data.startswith("nab"):
                    continue
                cfg = EvalConfig(nab_refit_every=None) if kind in TRAIN_ONCE_ON_NAB else EvalConfig()
                typer.echo(f"== {kind} on {data}", err=True)
                try:
                    res = run_evaluation(data, kind=kind, cfg=cfg, progress=lambda m: typer.echo(m, err=True))
                except Exception as exc:  # one failing kind must not lose the others' results
                    typer.echo(f"   failed: {type(exc).__name__}: {exc}", err=True)
                    continue
                save_result(res, results)
    try:
        html, md = build_report(results, out, with_figures=figures)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(md.read_text())
    typer.echo(f"report: {html}", err=True)


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `report` to the root `vigil` app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("report")(report_cmd)
