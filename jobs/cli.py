"""`vigil submit` and `vigil jobs list|cancel|stop`: run and manage jobs on the stack's cluster."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer

jobs_app = typer.Typer(help="Jobs on the Flink cluster of the local stack (REST API).", no_args_is_help=True)


def submit_cmd(
    ctx: typer.Context,
    job: Annotated[str, typer.Option("--job", "-j", help="passthrough | anomaly | NAME (jobs/NAME_job.py) | path.py")] = "passthrough",
    parallelism: Annotated[Optional[int], typer.Option("--parallelism", "-p", help="Default parallelism of the job.")] = None,
    from_savepoint: Annotated[Optional[str], typer.Option("--from-savepoint", "-s", help="Restore from this savepoint.")] = None,
    allow_non_restored: Annotated[bool, typer.Option("--allow-non-restored", help="Skip savepoint state with no operator.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until every task runs.")] = True,
) -> None:
    """Submit a job detached with `flink run`; extra arguments after `--` go to the job.

    Example: vigil submit --job passthrough -- --input-topic sensor-readings --output-topic out
    """
    from jobs.submit import SubmitError, submit, wait_for_state

    typer.echo(f"submitting {job} ...", err=True)
    try:
        res = submit(job, list(ctx.args), parallelism=parallelism, from_savepoint=from_savepoint,
                     allow_non_restored_state=allow_non_restored)
    except (SubmitError, FileNotFoundError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"job id: {res.job_id}")
    typer.echo(f"Flink UI: {res.ui_url}")
    if wait:
        from jobs.submit import JobFailedError, cancel

        try:
            state = wait_for_state(res.job_id, "RUNNING", timeout_s=180)
        except JobFailedError as exc:
            # Flink would restart it forever, holding slots: stop it and say why.
            cancel(res.job_id)
            typer.echo(f"{exc}\njob {res.job_id} cancelled; fix the cause and submit again", err=True)
            raise typer.Exit(1) from exc
        except TimeoutError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"state: {state}")
        if state not in ("RUNNING", "FINISHED"):
            raise typer.Exit(1)


@jobs_app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include finished / cancelled jobs.")] = False,
) -> None:
    """List jobs: id, state, start time, name."""
    from rich.console import Console
    from rich.table import Table

    from jobs.submit import list_jobs

    jobs = [j for j in list_jobs() if all_ or j["state"] not in ("FINISHED", "CANCELED", "FAILED")]
    table = Table()
    for col in ("job id", "state", "started", "name"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        started = dt.datetime.fromtimestamp(j["start-time"] / 1000).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(j["jid"], j["state"], started, j["name"])
    Console(width=160).print(table)


@jobs_app.command("cancel")
def cancel_cmd(job_id: Annotated[str, typer.Argument(help="Job id (or a unique prefix).")]) -> None:
    """Cancel a job without a savepoint."""
    from jobs.submit import cancel

    cancel(job_id)
    typer.echo(f"cancel requested: {job_id}")


@jobs_app.command("stop")
def stop_cmd(
    job_id: Annotated[str, typer.Argument(help="Job id (or a unique prefix).")],
    savepoint_dir: Annotated[Optional[str], typer.Option("--savepoint-dir", help="Default: <state>/flink/savepoints.")] = None,
    drain: Annotated[bool, typer.Option("--drain", help="Emit MAX_WATERMARK (flush windows) before stopping.")] = False,
) -> None:
    """Stop a job with a savepoint and print its location (restore with `vigil submit -s`)."""
    from jobs.submit import stop_with_savepoint

    typer.echo(stop_with_savepoint(job_id, savepoint_dir, drain=drain))


def bench_passthrough_cmd(
    readings: Annotated[int, typer.Option("--readings", "-n", help="Readings pre-loaded, then timed.")] = 200_000,
    parallelism: Annotated[list[int], typer.Option("--parallelism", "-p", help="Repeat for several values.")] = [1],  # noqa: B006
    python_mode: Annotated[str, typer.Option("--python-mode", help="process | thread")] = "process",
    delivery: Annotated[str, typer.Option("--delivery", help="exactly-once | at-least-once")] = "exactly-once",
    out: Annotated[str, typer.Option("--out", help="JSON result file.")] = "bench-results/passthrough.json",
) -> None:
    """Passthrough job readings/s on the stack's cluster (pre-loaded topic, bounded run)."""
    import json
    import uuid
    from pathlib import Path

    from deploy.stack import Stack
    from jobs.passthrough_bench import preload, run_bench

    stack = Stack()
    topic = f"bench-in-{uuid.uuid4().hex[:8]}"
    typer.echo(f"pre-loading {readings:,} readings into {topic} ...", err=True)
    preload(stack, topic, readings)
    results = []
    try:
        for p in parallelism:
            r = run_bench(readings, parallelism=p, python_mode=python_mode, delivery=delivery,
                          stack=stack, input_topic=topic)
            typer.echo(f"parallelism {p}: {r['readings_per_s']:,.0f} readings/s sustained "
                       f"(wall {r['wall_s']} s incl. submit {r['submit_s']} s)", err=True)
            results.append(r)
    finally:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        admin.delete_topics([topic])
        admin.close()
    # Append: on a shared machine the figures move with the load, so the history stays.
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc["runs"] = doc.get("runs", []) + results
    path.write_text(json.dumps(doc, indent=2))
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add `vigil submit`, `vigil jobs ...` and `vigil bench passthrough`."""
    from deploy.cli_groups import bench_app

    bench_app.command("passthrough")(bench_passthrough_cmd)
    app.command(
        "submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(submit_cmd)
    app.add_typer(jobs_app, name="jobs")
