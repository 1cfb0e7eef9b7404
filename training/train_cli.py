"""``vigil train``, ``vigil retrain`` and ``vigil models list|promote`` (heavy imports inside).

Exit codes of ``train``/``retrain``: 0 ok (retrain: promoted), 3 retrain candidate not
better, 2 bad input or configuration, 1 unexpected error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

models_app = typer.Typer(help="List trained model bundles and choose the PROMOTED (live) version.",
                         no_args_is_help=True)

#: The simulator run `vigil train` uses when --data is omitted (the demo's default dataset).
DEFAULT_SIM = {"devices": 10, "duration_s": 3600.0, "seed": 0, "anomaly_rate": 0.05,
               "start_ms": 1_767_225_600_000}


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise typer.BadParameter(f"--param expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def load_data(path: Optional[Path], fmt: str, say: Any) -> Any:
    """The Dataset at ``path`` (training.data), or a default simulator run written to a temp dir."""
    try:
        from training.data import load_dataset
    except ImportError as e:  # the loaders are the data engineer's module
        from training.train import TrainingError

        raise TrainingError(f"training.data.load_dataset is not available: {e}") from e
    if path is None:
        import shutil
        import tempfile

        from training.simulator import SimConfig, write_csv

        tmpdir = Path(tempfile.mkdtemp(prefix="vigil-train-"))
        try:
            tmp = tmpdir / "simulated.csv"
            say(f"no --data: simulating {DEFAULT_SIM['devices']} devices x {DEFAULT_SIM['duration_s']:.0f}s "
                f"(seed {DEFAULT_SIM['seed']}) through {tmp}")
            write_csv(SimConfig(**DEFAULT_SIM), tmp)
            ds = load_dataset(str(tmp), fmt="auto")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        ds.source = "simulator:" + json.dumps(DEFAULT_SIM, sort_keys=True)
        return ds
    return load_dataset(str(path), fmt=fmt)


def _run(fn: Any) -> None:
    """Map exceptions to the documented exit codes with a one-line message."""
    from rich.console import Console

    from training.train import ParityError, TrainingError

    err = Console(stderr=True)
    try:
        fn()
    except typer.Exit:
        raise
    except (TrainingError, FileNotFoundError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    except ParityError as e:
        err.print(f"[red]parity failure:[/red] {e}")
        raise typer.Exit(1) from None


def _progress() -> tuple[Any, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        console.print(f"[dim]{time.perf_counter() - t0:6.1f}s[/dim] {msg}")

    return console, say


def train_cmd(
    model: str = typer.Option("iforest", "--model", "-m", help="zscore | iforest | ocsvm | kmeans | autoencoder | lstm_autoencoder"),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="dataset path (simulator CSV, NAB, SKAB, generic CSV, Parquet archive); omitted: a simulated run"),
    fmt: str = typer.Option("auto", "--format", help="dataset format for training.data.load_dataset"),
    out: Path = typer.Option(Path("models"), "--out", "-o", help="bundle root: writes OUT/NAME/VERSION/"),
    name: Optional[str] = typer.Option(None, "--name", help="bundle name (default: the kind)"),
    window: int = typer.Option(60, help="window size in readings"),
    slide: int = typer.Option(10, help="slide in readings"),
    target_far: float = typer.Option(0.01, "--target-far", help="false-alarm rate the threshold targets on validation"),
    threshold_method: str = typer.Option("auto", "--threshold-method", help="auto | best_f1 | target_far"),
    param: list[str] = typer.Option([], "--param", "-p", help="hyperparameter KEY=VALUE (JSON values), repeatable"),
    tune: bool = typer.Option(False, "--tune", help="Optuna search before the final fit (needs labels)"),
    budget_s: float = typer.Option(60.0, "--budget-s", help="tuning wall-clock budget in seconds"),
    seed: int = typer.Option(0, help="random seed"),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="mark the new bundle PROMOTED"),
    track: bool = typer.Option(True, "--track/--no-track", help="record runs in MLflow (VIGIL_MLFLOW_URI)"),
) -> None:
    """Train a detector, export ONNX, check parity, calibrate thresholds, write a bundle."""

    def go() -> None:
        from training.train import TrainConfig, prepare, train
        from training.tuning import tune as run_tune

        console, say = _progress()
        ds = load_data(data, fmt, say)
        cfg = TrainConfig(kind=model, params=_parse_params(param), window=window, slide=slide,
                          seed=seed, target_far=target_far, threshold_method=threshold_method, name=name)
        p = prepare(ds, cfg)
        say(f"{len(p.train)} train / {len(p.val)} validation / {len(p.test)} test windows, "
            f"{p.spec.n_features} features")
        tags = {}
        if tune:
            say(f"tuning {model} for {budget_s:.0f}s")
            tr = run_tune(p, cfg, budget_s, track=track, progress=say)
            say(f"best of {len(tr.trials)} trials: AP={tr.best_value:.4f} {tr.best_params}")
            cfg.params = tr.best_params
            if tr.parent_run_id:
                tags["vigil.tuning_run"] = tr.parent_run_id
        res = train(ds, cfg, out_root=out, track=track, promote=promote, progress=say,
                    prepared=p, run_tags=tags)
        test = res.metrics.get("test", {})
        say(f"parity max rel err {res.parity['max_rel']:.2e} (tol {res.parity['rtol']:g}); "
            f"threshold {res.manifest['thresholds']['global']:.4g} ({res.manifest['thresholds']['method']}, "
            f"{len(res.manifest['thresholds']['per_device'])} per-device)")
        say("test: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in test.items()))
        console.print(f"[green]bundle[/green] {res.bundle_path}" + (" [bold](PROMOTED)[/bold]" if promote else "")
                      + (f"  mlflow run {res.run_id}" if res.run_id else ""))
        typer.echo(str(res.bundle_path))

    _run(go)


def retrain_cmd(
    model: str = typer.Option("iforest", "--model", "-m", help="kind of the candidate"),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="dataset path (any training.data format)"),
    archive: Optional[Path] = typer.Option(None, "--archive", help="the job's Parquet archive (instead of --data)", envvar="VIGIL_ARCHIVE_PATH"),
    fmt: str = typer.Option("auto", "--format", help="dataset format for training.data.load_dataset"),
    models: Path = typer.Option(Path("models"), "--models", help="bundle root holding models/NAME/PROMOTED"),
    name: Optional[str] = typer.Option(None, "--name", help="model name (default: the kind)"),
    window: int = typer.Option(60), slide: int = typer.Option(10),
    target_far: float = typer.Option(0.01, "--target-far"),
    param: list[str] = typer.Option([], "--param", "-p", help="hyperparameter KEY=VALUE, repeatable"),
    min_improvement: float = typer.Option(0.0, "--min-improvement", help="margin the candidate must win by"),
    seed: int = typer.Option(0),
    track: bool = typer.Option(True, "--track/--no-track"),
) -> None:
    """Retrain; promote the candidate only if it beats the live bundle on held-out data.

    Exit codes: 0 promoted, 3 not better, 2 bad input/config, 1 error.
    """

    def go() -> None:
        from training.retrain import retrain
        from training.train import TrainConfig, TrainingError

        console, say = _progress()
        # --data wins over the archive (which may come from VIGIL_ARCHIVE_PATH in the container).
        src = data if data is not None else archive
        if src is None:
            raise TrainingError("give --data PATH or --archive PATH (or set VIGIL_ARCHIVE_PATH)")
        if not Path(src).exists():
            raise TrainingError(f"{src} does not exist")
        ds = load_data(Path(src), fmt, say)
        cfg = TrainConfig(kind=model, params=_parse_params(param), window=window, slide=slide,
                          seed=seed, target_far=target_far, name=name)
        out = retrain(ds, cfg, models, min_improvement=min_improvement, track=track, progress=say)
        verdict = "[green]promoted[/green] " + str(out.promoted_version) if out.code == 0 else "[yellow]not better[/yellow]"
        console.print(f"{verdict}: {out.reason}")
        typer.echo(json.dumps({"code": out.code, "reason": out.reason, "metric": out.metric,
                               "promoted_version": out.promoted_version, "live_version": out.live_version,
                               "candidate": out.candidate, "live": out.live}, default=float))
        raise typer.Exit(out.code)

    _run(go)


@models_app.command("list")
def models_list(models: Path = typer.Option(Path("models"), "--models", help="bundle root"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Every bundle under the root: name, version, kind, threshold, test metrics, PROMOTED mark."""
    from rich.console import Console
    from rich.table import Table

    rows = []
    if models.is_dir():
        for mdir in sorted(p for p in models.iterdir() if p.is_dir()):
            prom = (mdir / "PROMOTED").read_text().strip() if (mdir / "PROMOTED").is_file() else None
            for vdir in sorted(p for p in mdir.iterdir() if (p / "manifest.json").is_file()):
                m = json.loads((vdir / "manifest.json").read_text())
                test = (m.get("metrics") or {}).get("test", {})
                rows.append({"name": mdir.name, "version": vdir.name, "kind": m.get("kind"),
                             "promoted": vdir.name == prom,
                             "threshold": (m.get("thresholds") or {}).get("global"),
                             "f1": test.get("f1"), "far": test.get("far", test.get("alarm_rate")),
                             "path": str(vdir)})
    if as_json:
        typer.echo(json.dumps(rows))
        return
    t = Table(title=f"bundles under {models}")
    for c in ("name", "version", "kind", "promoted", "threshold", "test F1", "test FAR"):
        t.add_column(c, no_wrap=c in ("name", "version"))
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    for r in rows:
        t.add_row(r["name"], r["version"], r["kind"], "yes" if r["promoted"] else "",
                  fmt(r["threshold"]), fmt(r["f1"]), fmt(r["far"]))
    Console().print(t)


@models_app.command("promote")
def models_promote(name: str = typer.Argument(..., help="model name (folder under the root)"),
                   version: str = typer.Argument(..., help="version folder to make live"),
                   models: Path = typer.Option(Path("models"), "--models", help="bundle root"),
                   track: bool = typer.Option(True, "--track/--no-track")) -> None:
    """Write models/NAME/PROMOTED = VERSION (and tag the MLflow run)."""
    from training.bundle import promote

    try:
        promote(models / name, version)
    except FileNotFoundError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if track:
        from training.tracking import mark_promoted

        mark_promoted(name, version)
    typer.echo(f"{name} {version} promoted")


def bench_training_cmd(
    out: Path = typer.Option(Path("bench-results/training.json"), "--out", help="JSON result file"),
    kind: list[str] = typer.Option([], "--kind", "-k", help="kinds to time (default: all)"),
    seconds: float = typer.Option(1.0, help="seconds per scoring measurement"),
) -> None:
    """Train time per kind on the demo data; Isolation Forest ONNX rows/s at batch 1 / 1024."""
    from training.bench_training import run

    _, say = _progress()
    res = run(kind or None, seconds, say)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    typer.echo(json.dumps(res, indent=1))


def register(app: typer.Typer) -> None:
    """Add ``train``, ``retrain``, the ``models`` group and ``vigil bench training``."""
    from deploy.cli_groups import bench_app

    app.command("train")(train_cmd)
    app.command("retrain")(retrain_cmd)
    app.add_typer(models_app, name="models")
    bench_app.command("training")(bench_training_cmd)
