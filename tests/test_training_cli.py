"""`vigil train`, `vigil models list|promote`, tuning: end to end on a small simulator CSV,
with every run read back from MLflow."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from training_fixtures import SLIDE, WINDOW, mlflow_uri, sim_csv  # noqa: F401

from deploy.cli import app

runner = CliRunner()


def _runs(experiment="vigil"):
    import mlflow

    from training.tracking import setup

    setup()
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=100)


def test_train_cli_writes_a_promoted_bundle_and_an_mlflow_run(sim_csv, tmp_path, mlflow_uri):
    from udfs.bundle import load_bundle

    out = tmp_path / "models"
    r = runner.invoke(app, ["train", "--model", "iforest", "--data", str(sim_csv), "--out", str(out),
                            "--window", str(WINDOW), "--slide", str(SLIDE), "-p", "n_estimators=40"])
    assert r.exit_code == 0, r.output
    bundle_dir = out / "iforest" / (out / "iforest" / "PROMOTED").read_text().strip()
    assert str(bundle_dir) in r.output
    b = load_bundle(out / "iforest")
    assert b.path == bundle_dir and b.manifest.training.params["n_estimators"] == 40
    client, runs = _runs()
    (run,) = runs
    assert run.data.tags["vigil.version"] == bundle_dir.name
    assert run.data.tags["vigil.promoted"] == "true"
    assert run.data.params["p.n_estimators"] == "40"
    assert 0.0 <= run.data.metrics["validation.alarm_rate"] <= 1.0
    assert run.data.metrics["parity.max_rel"] <= 1e-5
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/model.onnx", "bundle/manifest.json", "bundle/reference_stats.json"} <= arts

    # A second (zscore) model, then list and promote.
    r2 = runner.invoke(app, ["train", "-m", "zscore", "-d", str(sim_csv), "-o", str(out),
                             "--window", str(WINDOW), "--slide", str(SLIDE), "--name", "iforest",
                             "--no-promote"])
    assert r2.exit_code == 0, r2.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--models", str(out), "--json"]).output)
    assert len(listed) == 2 and [x["promoted"] for x in listed].count(True) == 1
    newer = next(x for x in listed if not x["promoted"])
    r3 = runner.invoke(app, ["models", "promote", "iforest", newer["version"], "--models", str(out)])
    assert r3.exit_code == 0, r3.output
    assert load_bundle(out / "iforest").version == newer["version"]
    client, runs = _runs()
    tags = {x.data.tags["vigil.version"]: x.data.tags["vigil.promoted"] for x in runs}
    assert tags == {bundle_dir.name: "false", newer["version"]: "true"}
    # Both bundles are versions of the registered model; the alias follows PROMOTED.
    versions = client.search_model_versions("name='vigil-iforest'")
    assert sorted(v.tags["vigil.version"] for v in versions) == sorted([bundle_dir.name, newer["version"]])
    assert client.get_model_version_by_alias("vigil-iforest", "promoted").tags["vigil.version"] == newer["version"]
    assert runner.invoke(app, ["models", "promote", "iforest", "nope", "--models", str(out)]).exit_code == 2


def test_tuning_records_every_trial(sim_csv, tmp_path, mlflow_uri):
    r = runner.invoke(app, ["train", "-m", "kmeans", "-d", str(sim_csv), "-o", str(tmp_path),
                            "--window", str(WINDOW), "--slide", str(SLIDE), "--tune", "--budget-s", "4"])
    assert r.exit_code == 0, r.output
    _, runs = _runs()
    kinds = [x.data.tags.get("vigil.tuning", "final") for x in runs]
    n_trials = kinds.count("trial")
    assert kinds.count("study") == 1 and kinds.count("final") == 1 and n_trials >= 1
    study = next(x for x in runs if x.data.tags.get("vigil.tuning") == "study")
    trials = [x for x in runs if x.data.tags.get("vigil.tuning") == "trial"]
    assert all(t.data.tags["mlflow.parentRunId"] == study.info.run_id for t in trials)
    best = max(t.data.metrics["val_average_precision"] for t in trials)
    assert study.data.metrics["best_val_average_precision"] == pytest.approx(best)
    final = next(x for x in runs if "vigil.tuning" not in x.data.tags)
    assert final.data.tags["vigil.tuning_run"] == study.info.run_id


@pytest.mark.parametrize("args,msg", [
    (["-m", "nope"], "unknown model kind"),
    (["--data", "/no/such/file.csv"], ""),
    (["--window", "100000"], "nothing to window"),
])
def test_bad_input_exits_2(args, msg, sim_csv, tmp_path, mlflow_uri):
    base = ["train", "-o", str(tmp_path), "--no-track"]
    if "--data" not in args:
        base += ["-d", str(sim_csv)]
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2, r.output
    assert msg in r.output
    assert not any(tmp_path.iterdir())


def test_tune_without_labels_is_refused(tmp_path, mlflow_uri, skab_free):
    r = runner.invoke(app, ["train", "-m", "zscore", "-d", str(skab_free), "-o", str(tmp_path),
                            "--window", "30", "--tune", "--budget-s", "2", "--no-track"])
    assert r.exit_code == 2 and "labelled validation" in r.output


@pytest.fixture()
def skab_free():
    from training.data import require_dataset

    return require_dataset("skab/anomaly-free/anomaly-free.csv")
