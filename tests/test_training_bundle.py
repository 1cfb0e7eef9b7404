"""Bundle writer round trip through udfs.bundle.load_bundle + udfs.scorer.Scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training_fixtures import SLIDE, WINDOW, sim_frame  # noqa: F401

from training.bundle import fingerprint, new_version, promote, write_bundle
from training.export import run_onnx
from training.train import TrainConfig, prepare, train


@pytest.fixture(scope="module")
def prepared(sim_frame):
    return prepare(sim_frame, TrainConfig(window=WINDOW, slide=SLIDE))


@pytest.mark.parametrize("kind,params", [("iforest", {"n_estimators": 50}),
                                         ("lstm_autoencoder", {"epochs": 1, "hidden": 8, "max_train_windows": 200})])
def test_round_trip_through_load_bundle_and_scorer(kind, params, sim_frame, prepared, tmp_path):
    from udfs.bundle import load_bundle
    from udfs.scorer import Scorer

    cfg = TrainConfig(kind=kind, params=params, window=WINDOW, slide=SLIDE, target_far=0.02)
    res = train(sim_frame, cfg, out_root=tmp_path, track=False, promote=True, prepared=prepared)
    path = res.bundle_path
    assert path.parent == tmp_path / kind and (tmp_path / kind / "PROMOTED").read_text().strip() == path.name
    b = load_bundle(tmp_path / kind)  # model dir -> the PROMOTED version
    m = b.manifest
    assert (m.name, m.kind, m.version) == (kind, kind, path.name)
    assert m.feature_spec.window == WINDOW and m.feature_spec.slide == SLIDE
    assert m.input.kind == ("sequence" if kind == "lstm_autoencoder" else "features")
    assert m.training.fingerprint == fingerprint(sim_frame) and m.training.rows == len(sim_frame)
    assert m.thresholds.global_ is not None and m.thresholds.target_false_alarm_rate == 0.02
    assert {"numpy", "onnx", "onnxruntime", "scikit-learn", "torch"} <= set(m.library_versions)
    assert m.metrics["parity"]["ok"] is True
    # Reference stats: every feature, quantiles + histogram, and the score distribution.
    ref = b.reference_stats
    assert set(ref["features"]) == set(m.feature_spec.names())
    one = ref["features"][m.feature_spec.names()[0]]
    assert {"quantiles", "mean", "std", "hist"} <= set(one) and sum(one["hist"]["counts"]) == ref["rows"]
    assert "0.99" in ref["scores"]["quantiles"]
    # The job's scorer on raw windows gives the training-side ONNX scores.
    scorer = Scorer(b)
    s = scorer.score_windows(prepared.test.x)
    expected = run_onnx(res.onnx_bytes, prepared.inputs("test", m.input.kind))
    np.testing.assert_allclose(s, expected, rtol=1e-6, atol=1e-7)
    assert s.shape == (len(prepared.test),)


def test_versions_are_unique_and_bundles_immutable(tmp_path, sim_frame, prepared):
    res = train(sim_frame, TrainConfig(kind="zscore", window=WINDOW, slide=SLIDE), out_root=None,
                track=False, prepared=prepared)
    a = write_bundle(tmp_path, res.manifest, res.onnx_bytes, res.reference_stats)
    b = write_bundle(tmp_path, res.manifest, res.onnx_bytes, res.reference_stats)
    assert a != b and a.parent == b.parent
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d", a.name)
    with pytest.raises(FileExistsError):
        write_bundle(tmp_path, {**res.manifest, "version": a.name}, res.onnx_bytes, res.reference_stats)
    assert not [p for p in (tmp_path / "zscore").iterdir() if p.name.startswith(".")]
    assert new_version(tmp_path / "zscore") not in {a.name, b.name}
    promote(tmp_path / "zscore", a.name)
    assert (tmp_path / "zscore" / "PROMOTED").read_text().strip() == a.name
    with pytest.raises(FileNotFoundError):
        promote(tmp_path / "zscore", "1999-01-01T00-00-00")


def test_invalid_manifest_writes_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_bundle(tmp_path, {"name": "x", "kind": "not-a-kind"}, b"", {})
    assert not any((tmp_path / "x").iterdir())


def test_fingerprint_tracks_the_data(sim_frame):
    f = sim_frame.head(500)
    assert fingerprint(f) == fingerprint(f.copy())
    g = f.copy()
    g.iloc[10, 2] += 0.001
    assert fingerprint(g) != fingerprint(f)
    assert json.dumps(fingerprint(f)).startswith('"sha256:')
