"""The `vigil` command: one surface for the stack, the simulator, training, the job and the sidecar.

Each package contributes its commands through a `register(app)` function in a light module
(heavy imports such as torch, pyflink or onnxruntime happen inside the commands), so
`vigil --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from deploy.cli_groups import bench_app

app = typer.Typer(
    name="vigil",
    help=(
        "Vigil: streaming anomaly detection for industrial IoT sensors "
        "(Kafka + PyFlink + ONNX + Redis).\n\n"
        "Typical session: `vigil stack up`, `vigil train`, `vigil submit`, "
        "`vigil simulate --to-kafka`, then watch the sidecar at http://127.0.0.1:8000/."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")

# Modules exposing `register(app: typer.Typer) -> None`, in the order their commands appear.
COMMAND_MODULES: list[str] = [
    "deploy.demo",
    "deploy.stack_cli",
    "training.data_cli",
    "training.train_cli",
    "training.eval_cli",
    "jobs.replay_cli",
    "jobs.cli",
    "jobs.job_cli",
    "sidecar.cli",
    "deploy.grafana",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
