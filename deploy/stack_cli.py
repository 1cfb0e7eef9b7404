"""`vigil stack up|down|status|logs`: the local stack from the command line."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

stack_app = typer.Typer(
    help=(
        "The local stack on 127.0.0.1 (Kafka KRaft, Flink JobManager + TaskManager, Redis, "
        "Prometheus, sidecar). Ports and folders: VIGIL_* environment variables (see docs/stack.md)."
    ),
    no_args_is_help=True,
)

ServicesArg = Annotated[
    Optional[list[str]],
    typer.Argument(help="Services (default all): kafka, flink, flink-jobmanager, flink-taskmanager, redis, prometheus."),
]


def _table(rows, title: str, state_dir=None) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("service", "state", "address", "pid", "log"):
        table.add_column(col, overflow="fold")
    colors = {"started": "green", "running": "green", "external": "cyan", "stopped": "dim",
              "unhealthy": "red"}
    for r in rows:
        c = colors.get(r.state, "white")
        log = os.path.relpath(r.log, state_dir) if state_dir else r.log
        table.add_row(r.name, f"[{c}]{r.state}[/{c}]", r.address, str(r.pid or "-"), log)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # pipes and CI logs: no wrapping of addresses and paths
    console.print(table)


@stack_app.command("up")
def up(services: ServicesArg = None) -> None:
    """Start what is not running (installing Kafka/Flink jars, redis-server, prometheus when
    missing), wait for health, create the topics, print the table. Harmless when already up."""
    from rich.console import Console

    from deploy.artifacts import MissingTool
    from deploy.stack import Stack, StackError

    err = Console(stderr=True)
    stack = Stack()
    t0 = time.monotonic()
    try:
        rows = stack.up(services, progress=lambda m: err.print(f"[dim]\\[vigil stack] {m}[/dim]"))
    except (StackError, MissingTool, ValueError) as exc:
        err.print(f"[red]stack up failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    _table(rows, f"vigil stack up in {time.monotonic() - t0:.1f} s (logs under {stack.state_dir})", stack.state_dir)
    typer.echo(f"Flink UI: {stack.flink_rest_url}   Prometheus: {stack.prometheus_url}   "
               f"Kafka: {stack.kafka_bootstrap}   Redis: {stack.redis_url}")


@stack_app.command("down")
def down(services: ServicesArg = None) -> None:
    """Stop the processes this stack started (recorded pids only; never by name)."""
    from deploy.stack import Stack

    stopped = Stack().down(services)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@stack_app.command("status")
def status() -> None:
    """Show each service: state (running / external / stopped), address, pid, log file.
    Exits 1 when a service is not healthy."""
    from deploy.stack import Stack

    stack = Stack()
    rows = stack.status()
    _table(rows, f"vigil stack (logs under {stack.state_dir})", stack.state_dir)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@stack_app.command("logs")
def logs(
    service: Annotated[Optional[str], typer.Argument(help="One service; default: all, last lines of each.")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print the last lines of a service's log (or of every service)."""
    from deploy.procs import tail
    from deploy.stack import Stack, resolve_names

    stack = Stack()
    try:
        names = resolve_names([service] if service else None)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for n in names:
        path = stack.log_path(n)
        typer.echo(f"==> {path} <==")
        typer.echo(tail(path, lines))
    if follow and len(names) == 1:
        path = stack.log_path(names[0])
        with open(path, errors="replace") as fh:
            fh.seek(0, 2)
            try:
                while True:
                    line = fh.readline()
                    if line:
                        typer.echo(line, nl=False)
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def register(app: typer.Typer) -> None:
    """Add `vigil stack ...` to the root app."""
    app.add_typer(stack_app, name="stack")
