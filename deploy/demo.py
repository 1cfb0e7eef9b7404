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


def _has_promoted(models_dir: Path, name: str) -> bool:
    return (models_dir / name / "PROMOTED").is_file()


def demo(
    model: str = typer.Option("iforest", help="Model kind trained for the demo when none is promoted."),
    models_dir: Path = typer.Option(REPO_ROOT / "models", help="Where bundles live."),
    devices: int = typer.Option(50, help="Simulated devices."),
    duration: int = typer.Option(300, help="Seconds of simulated real-time streaming."),
    anomaly_rate: float = typer.Option(0.02, help="Injected faults per device-minute (roughly)."),
    retrain: bool = typer.Option(False, help="Train a fresh bundle even when one is promoted."),
) -> None:
    """Install-free demo: stack up, train, submit the job, stream simulated sensors, print where to look."""
    started = time.monotonic()
    settings = StackSettings()
    _vigil("stack", "up")
    if retrain or not _has_promoted(models_dir, model):
        _vigil("train", "--model", model, "--out", str(models_dir))
    bundle = models_dir / model
    _vigil("submit", "--job", "anomaly", "--bundle", str(bundle))
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
        "simulate", "--to-kafka", "--devices", str(devices), "--duration", str(duration),
        "--realtime", "--anomaly-rate", str(anomaly_rate),
    )
    console.print(
        "\nSimulation finished; the stack keeps running. Alerts so far: "
        f"curl -s http://{settings.host}:{settings.sidecar_port}/v1/anomalies | python -m json.tool"
    )


def register(app: typer.Typer) -> None:
    """Add `vigil demo`."""
    app.command("demo")(demo)
