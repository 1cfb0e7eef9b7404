"""`vigil demo`: the whole product on this machine in one command.

Starts the local stack (Kafka, Flink, Redis, Prometheus, sidecar), trains the default model
when none is promoted yet, submits the anomaly job with it, streams simulated sensors into
Kafka and prints where to look. Each step is an ordinary `vigil` command, so the demo
exercises exactly what a user would type.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import typer
from rich.console import Console

from deploy.settings import REPO_ROOT, StackSettings

console = Console()


def _vigil(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one `vigil` sub-command with the same interpreter, echoing it first."""
    cmd = [sys.executable, "-m", "deploy.cli", *args]
    console.print(f"[bold cyan]$ vigil {shlex.join(args)}[/]")
    result = subprocess.run(cmd, cwd=REPO_ROOT)
    if check and result.returncode != 0:
        console.print(f"[red]`vigil {shlex.join(args)}` failed (exit {result.returncode}); see the output above.[/]")
        raise typer.Exit(result.returncode)
    return result


DEMO_JOB_NAME = "vigil-demo"


def _has_promoted(models_dir: Path, name: str) -> bool:
    return (models_dir / name / "PROMOTED").is_file()


def _running_demo_jobs_cancelled(settings: StackSettings) -> None:
    """A second `make demo` replaces the first one's job instead of running two side by side."""
    from deploy.stack import Stack
    from jobs.submit import cancel, list_jobs

    stack = Stack(settings)
    for job in list_jobs(stack):
        if job.get("name") == DEMO_JOB_NAME and job.get("state") in {"RUNNING", "CREATED", "RESTARTING"}:
            console.print(f"cancelling the previous demo job {job['jid']}")
            cancel(job["jid"], stack=stack)


def demo(
    devices: int = typer.Option(50, help="Simulated devices."),
    duration: str = typer.Option("5m", help="Real-time streaming length (90s, 5m, 1h)."),
    anomaly_rate: float = typer.Option(0.05, help="Fraction of time inside injected faults."),
    retrain: bool = typer.Option(False, help="Train a fresh bundle even when one is promoted."),
    seed: int = typer.Option(7, help="Simulator seed: the plant's devices (training day and live stream)."),
) -> None:
    """Stack up, train the default model, submit the job, stream simulated sensors, print where to look.

    The model is the stack's live model (`VIGIL_LIVE_MODEL`, default ocsvm: best F1 on the
    simulator's faults among the fast kinds, see docs/training.md); bundles go to `VIGIL_MODELS_DIR`.
    """
    started = time.monotonic()
    settings = StackSettings()
    model, models_dir = settings.live_model, settings.models_dir
    _vigil("stack", "up")
    if retrain or not _has_promoted(models_dir, model):
        # Train on the same (simulated) plant: the same devices on an earlier, fault-free day.
        train_csv = settings.state_dir / "demo" / "training-day.csv"
        train_csv.parent.mkdir(parents=True, exist_ok=True)
        day_before = datetime.now(timezone.utc) - timedelta(days=1)
        _vigil("simulate", "--devices", str(devices), "--duration", "2h", "--anomaly-rate", "0",
               "--seed", str(seed), "--start", day_before.isoformat(), "--out", str(train_csv), "--quiet")
        _vigil("train", "--model", model, "--data", str(train_csv), "--out", str(models_dir))
    _running_demo_jobs_cancelled(settings)
    _vigil("submit", "--job", "anomaly", "--", "--bundle", str(models_dir / model), "--emit-scores",
           "--starting-offsets", "latest", "--delivery", "at-least-once", "--job-name", DEMO_JOB_NAME)
    console.print(
        f"\n[bold green]Stack and job are up after {time.monotonic() - started:.0f} s.[/] Where to look:\n"
        f"  live alerts page     http://{settings.host}:{settings.sidecar_port}/\n"
        f"  REST API (OpenAPI)   http://{settings.host}:{settings.sidecar_port}/docs\n"
        f"  Flink web UI         {settings.flink_rest_url}\n"
        f"  Prometheus           http://{settings.host}:{settings.prometheus_port}/\n"
        f"  Kafka                {settings.kafka_bootstrap} (topics: sensor-readings, anomalies, sensor-readings-dlq)\n"
        f"  logs                 vigil stack logs SERVICE   (state in {settings.state_dir})\n"
        f"  stop everything      vigil stack down\n"
    )
    _vigil(
        "simulate", "--to-kafka", "--devices", str(devices), "--duration", duration,
        "--realtime", "--anomaly-rate", str(anomaly_rate), "--seed", str(seed), "--bootstrap", settings.kafka_bootstrap,
    )
    console.print(
        "\nSimulation finished; the stack keeps running. Alerts so far: "
        f"curl -s http://{settings.host}:{settings.sidecar_port}/v1/anomalies | python -m json.tool"
    )


def register(app: typer.Typer) -> None:
    """Add `vigil demo`."""
    app.command("demo")(demo)
