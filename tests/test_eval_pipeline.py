"""`vigil evaluate` end to end on small real slices: training.train -> jobs.replay -> scorers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from eval_fixtures import require_dataset
from training.evaluate import EvalConfig, align_replay, public_results, run_evaluation
from training.nab_scorer import PROFILES, FileSweep, load_nab_windows, score_file


@pytest.fixture(scope="module")
def datasets():
    require_dataset("nab/labels/combined_windows.json")
    require_dataset("skab/valve1/1.csv")


def test_nab_one_file_through_replay(datasets, tmp_path):
    res = run_evaluation("nab:realAdExchange", kind="zscore", cfg=EvalConfig(), work=tmp_path, limit_files=1)
    run = res.results["_nab_runs"][0]
    assert run.name == "realAdExchange/exchange-2_cpc_results.csv"
    n = run.ts_ms.size
    # Rows before the first full window have no score; after it, only the rows where the
    # job's alert policy opens an alert keep one (default nab_detections="alert_opens").
    assert np.isnan(run.raw[:15]).all() and not np.isnan(run.raw[16:]).any()
    opens = np.isfinite(run.raw)
    assert opens.sum() < 0.05 * n and not (opens[1:] & opens[:-1]).any()
    corpus = res.results["nab"]["corpus"]["standard"]
    # The reported raw score equals the per-file NAB score at the chosen threshold.
    wins = load_nab_windows(require_dataset("nab/labels/combined_windows.json"))[run.name]
    fs = FileSweep.build(run.name, run.ts_ms, run.scores, wins)
    thr = corpus["threshold"] if corpus["threshold"] is not None else float("inf")
    assert score_file(fs, thr, PROFILES["standard"]).score == pytest.approx(corpus["raw"])
    assert corpus["null"] == -1.0 and corpus["perfect"] == 1.0
    assert -100.0 <= corpus["score"] <= 100.0
    doc = json.loads(public_results(res).to_json())
    assert "_nab_runs" not in doc["results"] and n == 1624


def test_skab_two_files_through_replay(datasets, tmp_path):
    res = run_evaluation("skab", kind="zscore", cfg=EvalConfig(), work=tmp_path, limit_files=2)
    sk = res.results["skab"]
    runs = res.results["_skab_runs"]
    scored = sum(len(r.frame) - 400 for r in runs)
    assert sum(sk["counts"].values()) == scored
    for r in runs:  # thresholds come from the training rows only
        assert r.threshold == pytest.approx(
            __import__("training.skab_protocol", fromlist=["x"]).ucl_threshold(r.scores[:400], 0.99, 4 / 3))
    assert 0.0 <= sk["f1"] <= 1.0


def test_cli_writes_json_and_markdown(datasets, tmp_path):
    from deploy.cli import app

    out = tmp_path / "res"
    r = CliRunner().invoke(app, ["evaluate", "--model", "zscore", "--data", "skab", "--out", str(out),
                                 "--limit-files", "1"])
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "zscore__skab.json").read_text())
    assert doc["results"]["skab"]["counts"]
    assert "skab.f1" in (out / "zscore__skab.md").read_text()
    rep = CliRunner().invoke(app, ["report", "--results", str(out), "--out", str(tmp_path / "rep")])
    assert rep.exit_code == 0, rep.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "data:image/png;base64," in html and "SKAB F1" in html


def test_cli_rejects_bad_arguments():
    from deploy.cli import app

    r = CliRunner().invoke(app, ["evaluate", "--data", "nab:nope", "--model", "zscore"])
    assert r.exit_code == 2 and "unknown NAB category" in r.output
    r = CliRunner().invoke(app, ["evaluate", "--data", "skab"])
    assert r.exit_code == 2 and "exactly one of" in r.output


def test_align_replay_maps_window_scores_and_alerts():
    import pandas as pd

    frame = pd.DataFrame({"device_id": ["a"] * 5 + ["b"] * 2, "ts": [0, 1, 2, 3, 4, 0, 1]})

    class R:
        scores = pd.DataFrame({"device_id": ["a", "a", "a", "b"], "ts": [2, 3, 4, 1], "score": [0.1, 0.9, 0.2, 0.5]})
        alerts = [{"device_id": "a", "kind": "anomaly", "window_end": 3, "closed_at": 4, "threshold": 0.5},
                  {"device_id": "b", "kind": "stream_silent", "window_end": 0}]
        threshold = None

    out = align_replay(frame, R())
    assert np.allclose(out.scores, [np.nan, np.nan, 0.1, 0.9, 0.2, np.nan, 0.5], equal_nan=True)
    assert out.alert.tolist() == [False, False, False, True, True, False, False]
    assert out.threshold == 0.5


def test_nab_online_kind_uses_replay_online_mode(datasets, tmp_path):
    res = run_evaluation("nab:realAdExchange", kind="online_zscore", work=tmp_path, limit_files=1)
    run = res.results["_nab_runs"][0]
    assert not any(tmp_path.rglob("model.onnx")), "online mode trains no bundle"
    assert not np.isnan(run.scores[16:]).any()
    assert res.results["nab"]["realAdExchange"]["standard"]["null"] == -1.0


def test_nab_scores_mode_keeps_every_row(datasets, tmp_path):
    cfg = EvalConfig(nab_detections="scores", nab_refit_every=None)
    res = run_evaluation("nab:realAdExchange", kind="online_zscore", cfg=cfg, work=tmp_path, limit_files=1)
    assert np.isfinite(res.results["_nab_runs"][0].scores[16:]).all()
