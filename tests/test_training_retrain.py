"""`vigil retrain`: promote only a better candidate; exit codes 0 / 3 / 2."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from training_fixtures import SLIDE, WINDOW, mlflow_uri, sim_csv, sim_frame  # noqa: F401

from deploy.cli import app

runner = CliRunner()
ARGS = ["--window", str(WINDOW), "--slide", str(SLIDE), "-m", "iforest", "-p", "n_estimators=40"]


def _last_json(output: str) -> dict:
    return json.loads([ln for ln in output.splitlines() if ln.startswith("{")][-1])


def test_retrain_promotes_only_when_better(sim_csv, tmp_path, mlflow_uri):
    models = tmp_path / "models"
    # 1. No live bundle: the candidate is promoted (exit 0).
    r = runner.invoke(app, ["retrain", "-d", str(sim_csv), "--models", str(models), *ARGS])
    assert r.exit_code == 0, r.output
    first = _last_json(r.output)
    assert first["promoted_version"] and first["live_version"] is None
    mdir = models / "iforest"
    assert (mdir / "PROMOTED").read_text().strip() == first["promoted_version"]
    assert "f1" in first["candidate"]  # held-out data is labelled: F1 decides

    # 2. Same data, same seed: the candidate equals the live bundle -> not better (exit 3),
    #    nothing written.
    r = runner.invoke(app, ["retrain", "-d", str(sim_csv), "--models", str(models), *ARGS])
    assert r.exit_code == 3, r.output
    out = _last_json(r.output)
    assert out["candidate"]["f1"] == out["live"]["f1"] and out["promoted_version"] is None
    assert len([p for p in mdir.iterdir() if p.is_dir()]) == 1

    # 3. A live bundle that never alarms (threshold raised) is beaten (F1 0) -> promoted.
    broken = mdir / "1999-01-01T00-00-00"
    shutil.copytree(mdir / first["promoted_version"], broken)
    man = json.loads((broken / "manifest.json").read_text())
    man["version"], man["thresholds"]["global"], man["thresholds"]["per_device"] = broken.name, 1e9, {}
    (broken / "manifest.json").write_text(json.dumps(man))
    (mdir / "PROMOTED").write_text(broken.name)
    r = runner.invoke(app, ["retrain", "-d", str(sim_csv), "--models", str(models), *ARGS])
    assert r.exit_code == 0, r.output
    out = _last_json(r.output)
    assert out["live_version"] == broken.name and out["live"]["f1"] == 0.0 < out["candidate"]["f1"]
    assert (mdir / "PROMOTED").read_text().strip() == out["promoted_version"] != first["promoted_version"]

    # Every retrain is an MLflow run tagged with its decision.
    import mlflow

    from training.tracking import setup

    setup()
    c = mlflow.MlflowClient()
    runs = c.search_runs([c.get_experiment_by_name("vigil").experiment_id])
    assert sorted(x.data.tags["vigil.retrain"] for x in runs) == ["not_better", "promoted", "promoted"]


def test_retrain_bad_input_exits_2(tmp_path, sim_csv, mlflow_uri):
    r = runner.invoke(app, ["retrain", "--models", str(tmp_path), "--no-track", "-d", str(tmp_path / "none.csv")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(app, ["retrain", "--models", str(tmp_path), "--no-track"])
    assert r.exit_code == 2 and "give --data PATH or --archive PATH" in r.output
    r = runner.invoke(app, ["retrain", "--models", str(tmp_path), "--no-track", "-d", str(sim_csv), "-m", "svm"])
    assert r.exit_code == 2 and "unknown model kind" in r.output
    assert not any(tmp_path.iterdir())


def test_retrain_from_the_jobs_parquet_archive_without_labels(sim_frame, tmp_path, mlflow_uri):
    """The archive path (Parquet partitioned by day, no labels): calibration error decides."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = sim_frame.drop(columns=["label", "fault_kind"])
    day = tmp_path / "archive" / "date=2026-01-01"
    day.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), day / "part-0.parquet")
    models = tmp_path / "models"
    args = ["retrain", "--archive", str(tmp_path / "archive"), "--models", str(models), "--no-track",
            "--window", str(WINDOW), "--slide", str(SLIDE), "-m", "zscore"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    first = _last_json(r.output)
    assert "f1" not in first["candidate"] and first["candidate"]["windows"] > 100
    r = runner.invoke(app, args)
    assert r.exit_code == 3, r.output
    out = _last_json(r.output)
    assert out["metric"] == "calibration_error"
    assert out["candidate"]["calibration_error"] == out["live"]["calibration_error"]
