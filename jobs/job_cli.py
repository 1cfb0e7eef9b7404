"""Job-specific commands: ``vigil bench job`` and ``vigil job check-bundle``.

(``vigil submit --job anomaly -- ...`` is the generic submit of ``jobs/cli.py``.)
Heavy imports (pyflink, onnxruntime, sklearn) happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from deploy.cli_groups import bench_app

job_app = typer.Typer(help="The anomaly job: checks before submission.", no_args_is_help=True)


@bench_app.command("job")
def bench_job(
    devices: Annotated[int, typer.Option(help="Simulated devices (8 sensors each).")] = 1000,
    steps: Annotated[int, typer.Option(help="Readings per device preloaded for the max-rate runs (aim for "
                                             "≥ 15 s of output: short runs overstate rates).")] = 1000,
    latency_seconds: Annotated[float, typer.Option(help="Length of each paced latency run (the first 20 s are warm-up).")] = 80.0,
    latency_fraction: Annotated[float, typer.Option(help="Latency runs send at this fraction of max rate.")] = 0.5,
    checkpoint_ms: Annotated[int, typer.Option(help="Checkpoint interval of the anomaly job.")] = 2000,
    parallelism: Annotated[int, typer.Option("--parallelism", "-p", help="Parallelism of the jobs; the "
                                             "input topics get as many partitions.")] = 1,
    job_arg: Annotated[Optional[list[str]], typer.Option(
        "--job-arg", help="Extra anomaly-job argument, repeatable (e.g. --job-arg=--bundle-ms --job-arg=20).")] = None,
    scale: Annotated[Optional[list[int]], typer.Option(
        "--scale", help="Device counts of the scaling runs, repeatable (default 10000 and 100000).")] = None,
    scaling: Annotated[bool, typer.Option("--scaling/--no-scaling", help="Run the device-scaling runs.")] = True,
    heap: Annotated[bool, typer.Option("--heap/--no-heap", help="Also run the job on the heap state backend.")] = True,
    bundle: Annotated[Optional[str], typer.Option(help="Bundle dir (default: a fresh 100-tree Isolation Forest).")] = None,
    skip_latency: Annotated[bool, typer.Option(help="Only the max-rate runs.")] = False,
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("bench-results/job.json"),
) -> None:
    """Anomaly job vs the pure-JVM SQL passthrough (the anchor) and the Python passthrough on the
    local stack: readings/s, CPU per process, event-to-alert p50/p99, device scaling."""
    from jobs.bench import run_bench, summary

    r = run_bench(devices=devices, steps=steps, latency_seconds=latency_seconds,
                  latency_fraction=latency_fraction, checkpoint_ms=checkpoint_ms, bundle=bundle, out=out,
                  skip_latency=skip_latency, parallelism=parallelism, job_args=job_arg,
                  scaling=scale if scaling else [], heap=heap)
    typer.echo(summary(r))
    typer.echo(f"written {out}")


@job_app.command("check-bundle")
def check_bundle_cmd(
    bundle: Annotated[str, typer.Argument(help="Bundle version dir or models/<name>.")],
) -> None:
    """Refuse (exit 1, with the reason) a bundle the anomaly job cannot serve; else print its spec."""
    from jobs.anomaly_job import parse_args, job_config, preflight

    cfg = job_config(parse_args(["--bundle", bundle]))
    try:
        d = preflight(cfg)
    except SystemExit as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    man = json.loads((Path(d) / "manifest.json").read_text())
    typer.echo(f"ok: {d} ({man['kind']}, window {man['feature_spec']['window']}, "
               f"{len(man['feature_spec']['sensors'])} sensors)")


def register(app: typer.Typer) -> None:
    """Add ``vigil job ...`` (``vigil bench job`` is registered on import)."""
    app.add_typer(job_app, name="job")
