"""MLflow setup: where runs go and how a Vigil training run is recorded.

Default store: SQLite at ``<repo>/mlruns/mlflow.db`` with artifacts under
``<repo>/mlruns/artifacts`` (MLflow 3 refuses the plain file store). ``VIGIL_MLFLOW_URI``
overrides the tracking URI (any MLflow URI: ``sqlite:///…``, ``http://…``); artifacts then go
to ``VIGIL_MLFLOW_ARTIFACTS`` or next to a SQLite file.

>>> import os
>>> os.environ["VIGIL_MLFLOW_URI"] = "sqlite:////tmp/x/mlflow.db"
>>> tracking_uri(), artifact_root()
('sqlite:////tmp/x/mlflow.db', 'file:///tmp/x/artifacts')
>>> del os.environ["VIGIL_MLFLOW_URI"]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "vigil"
#: MLflow tag on the run whose bundle is the model's PROMOTED version.
TAG_PROMOTED = "vigil.promoted"


def tracking_uri() -> str:
    """The MLflow tracking URI (``VIGIL_MLFLOW_URI`` or the repo's SQLite store)."""
    uri = os.environ.get("VIGIL_MLFLOW_URI")
    if uri:
        return uri
    return f"sqlite:///{REPO_ROOT / 'mlruns' / 'mlflow.db'}"


def artifact_root() -> str | None:
    """Artifact location for new experiments (None = the server decides)."""
    if os.environ.get("VIGIL_MLFLOW_ARTIFACTS"):
        return os.environ["VIGIL_MLFLOW_ARTIFACTS"]
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent.joinpath("artifacts").as_uri()
    return None


def setup(experiment: str = EXPERIMENT) -> str:
    """Point MLflow at Vigil's store, create the experiment if needed; return its id."""
    import mlflow

    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(
        experiment, artifact_location=artifact_root())
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def log_flat(prefix: str, values: dict[str, Any]) -> None:
    """Log numeric leaves of a nested dict as metrics named ``prefix.key.sub``."""
    import mlflow

    flat: dict[str, float] = {}

    def walk(p: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{p}.{k}" if p else str(k), x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf"):
            flat[p] = float(v)

    walk(prefix, values)
    if flat:
        mlflow.log_metrics({k.replace(":", "_"): v for k, v in flat.items()})


def registered_name(model_name: str) -> str:
    """Name of the MLflow registered model holding the bundles of ``model_name``."""
    return f"vigil-{model_name}"


def register_bundle(model_name: str, version: str, run_id: str, artifact_uri: str) -> str:
    """Register the run's ``bundle/`` artifacts as a version of ``vigil-<name>``; return it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    reg = registered_name(model_name)
    try:
        client.create_registered_model(reg, description=f"Vigil bundles models/{model_name}/")
    except MlflowException:
        pass  # exists
    mv = client.create_model_version(reg, source=f"{artifact_uri}/bundle", run_id=run_id,
                                     tags={"vigil.version": version})
    return str(mv.version)


def mark_promoted(model_name: str, version: str) -> None:
    """Tag the run that produced ``model_name/version`` as promoted (untag the model's others)
    and point the registered model's ``promoted`` alias at its model version."""
    import mlflow

    setup()
    client = mlflow.MlflowClient()
    reg = registered_name(model_name)
    try:
        for mv in client.search_model_versions(f"name='{reg}'"):
            if mv.tags.get("vigil.version") == version:
                client.set_registered_model_alias(reg, "promoted", mv.version)
    except Exception as e:  # noqa: BLE001 - registry optional on some tracking servers
        logging.getLogger(__name__).warning("model registry alias not set: %s", e)
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([exp.experiment_id], f"tags.`vigil.model` = '{model_name}'", max_results=1000)
    for r in runs:
        is_it = r.data.tags.get("vigil.version") == version
        if is_it or r.data.tags.get(TAG_PROMOTED) == "true":
            client.set_tag(r.info.run_id, TAG_PROMOTED, "true" if is_it else "false")
