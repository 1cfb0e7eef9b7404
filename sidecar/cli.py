"""CLI: `vigil sidecar`, `vigil labels export`, `vigil bench sidecar` (heavy imports inside)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

labels_app = typer.Typer(help="Alert labels (operator feedback) for retraining.", no_args_is_help=True)


def sidecar(
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8000, help="port"),
    log_level: str = typer.Option("warning", help="log level (JSON lines on stderr)"),
    workers: int = typer.Option(1, help="uvicorn worker processes (each runs its own consumer in the group)"),
) -> None:
    """Run the REST + live-stream service (settings from VIGIL_SIDECAR_* environment variables)."""
    import uvicorn

    from sidecar.logs import log_config

    uvicorn.run("sidecar.app:create_app", factory=True, host=host, port=port, log_level=log_level,
                log_config=log_config(log_level), access_log=False, timeout_graceful_shutdown=5,
                workers=workers)


@labels_app.command("export")
def labels_export(
    out: Path = typer.Option(..., "--out", "-o", help="output file (.csv or .jsonl)"),
    fmt: str = typer.Option("auto", "--format", help="csv | jsonl | auto (from the suffix)"),
) -> None:
    """Write every alert label kept in Redis as CSV or JSONL (one row per labelled alert)."""
    from sidecar.labels import export_labels

    n = export_labels(out, fmt)
    typer.echo(f"wrote {n} labels to {out}")


def bench_sidecar(
    duration: float = typer.Option(20.0, help="seconds per load phase"),
    read_rps: str = typer.Option("100,250,500", help="GET /v1/anomalies loads, requests/s (comma list)"),
    write_rps: int = typer.Option(50, help="POST /v1/readings requests per second"),
    batch: int = typer.Option(100, help="readings per POST"),
    out: Path = typer.Option(Path("bench-results/sidecar.json"), help="result JSON"),
    workers: int = typer.Option(1, help="uvicorn workers of the server under test"),
) -> None:
    """p50/p99 latency of GET /v1/anomalies and POST /v1/readings throughput at fixed loads,
    against `vigil sidecar` started here on a free loopback port (Kafka/Redis from VIGIL_SIDECAR_*)."""
    from sidecar.bench import run_bench

    loads = tuple(int(x) for x in read_rps.split(",") if x.strip())
    res = run_bench(duration=duration, read_rps=loads, write_rps=write_rps, batch=batch, out=out,
                    workers=workers)
    typer.echo(json.dumps(res, indent=2))


def register(app: typer.Typer) -> None:
    """Add the sidecar commands to the root `vigil` app."""
    from deploy.cli_groups import bench_app

    app.command("sidecar")(sidecar)
    app.add_typer(labels_app, name="labels")
    bench_app.command("sidecar")(bench_sidecar)
