"""Command groups shared by several packages (so each package can add its own sub-command)."""

import typer

bench_app = typer.Typer(
    help="Benchmarks on this machine; results go to a JSON file under bench-results/ and to the README.",
    no_args_is_help=True,
)
