"""Bundle loading (PROMOTED / newest) and the ONNX Scorer on real skl2onnx / torch.onnx bundles."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from bundle_factory import normal_windows
from udfs_fixtures import SENSORS, WINDOW, bundle

from udfs.bundle import BundleError, load_bundle, resolve_bundle_dir
from udfs.features import UnsupportedFeatureSpec
from udfs.scorer import Scorer

KINDS = ["zscore", "iforest", "autoencoder"]


def _anomalous(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    normal = normal_windows(n, WINDOW, len(SENSORS), seed=42)
    bad = normal.copy()
    bad[:, -6:, 1] += 6.0  # a step on sensor b
    return normal, bad


@pytest.mark.parametrize("kind", KINDS)
def test_scores_oriented_higher_is_anomalous(kind):
    s = Scorer(bundle(kind))
    normal, bad = _anomalous()
    sn, sb = s.score_windows(normal), s.score_windows(bad)
    assert sn.dtype == np.float64 and sn.shape == (64,)
    assert np.median(sb) > np.quantile(sn, 0.95)
    thr = s.bundle.threshold_for("any")
    assert (sn > thr).mean() < 0.2 and (sb > thr).mean() > 0.8


def test_iforest_onnx_matches_sklearn_orientation():
    s = Scorer(bundle("iforest"))
    assert s.bundle.manifest.score_direction == "lower_is_anomalous" and s.sign == -1.0
    ref = s.bundle.reference_stats["scores"]
    normal, _ = _anomalous()
    med = float(np.median(s.score_windows(normal)))
    # reference scores (oriented, from sklearn) and ONNX scores agree in location
    assert ref["quantiles"]["0.05"] - 0.05 < med < ref["quantiles"]["0.95"] + 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_does_not_change_scores(kind):
    s = Scorer(bundle(kind), max_batch=7)
    w = normal_windows(50, WINDOW, len(SENSORS), seed=3)
    full = s.score_windows(w)
    one = np.array([s.score_windows(w[i:i + 1])[0] for i in range(50)])
    tol = 0 if kind == "iforest" else 1e-5
    np.testing.assert_allclose(one, full, rtol=tol, atol=tol)


def test_shape_errors_are_clear():
    s = Scorer(bundle("iforest"))
    with pytest.raises(ValueError, match="expects"):
        s.score(np.zeros((2, 5), np.float32))
    with pytest.raises(UnsupportedFeatureSpec):
        s.score_windows(np.zeros((2, WINDOW + 1, 3), np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_explain_top_features_sum_to_one_and_point_at_the_fault(kind):
    s = Scorer(bundle(kind))
    _, bad = _anomalous(8)
    sc, f = s.score_windows(bad, return_features=True)
    c = s.explainer.contributions(f)
    np.testing.assert_allclose(c.sum(axis=1), 1.0, rtol=1e-6)
    top = s.explain(f, k=3)
    assert len(top) == 8 and all(len(t) == 3 for t in top)
    # the step on b also breaks the sensors' correlation: cross features may lead, a/c may not
    assert all(t[0]["feature"].split(".")[0] in ("b", "cross") for t in top), top[0]
    assert all(any(x["feature"].startswith("b.") for x in t) for t in top), top[0]
    assert all(t[0]["contribution"] >= t[1]["contribution"] for t in top)


def test_load_bundle_promoted_newest_and_errors(tmp_path):
    src = bundle("zscore")
    model_dir = tmp_path / "zscore"
    for v, created in (("v1", "2026-01-01T00:00:00Z"), ("v2", "2026-02-01T00:00:00Z")):
        d = model_dir / v
        shutil.copytree(src, d)
        man = json.loads((d / "manifest.json").read_text())
        man["version"], man["created_at"] = v, created
        (d / "manifest.json").write_text(json.dumps(man))
    assert resolve_bundle_dir(model_dir).name == "v2"  # newest
    (model_dir / "PROMOTED").write_text("v1\n")
    b = load_bundle(model_dir)
    assert b.version == "v1" and b.path == model_dir / "v1" and b.reference_stats["rows"] > 0
    assert load_bundle(model_dir / "v2" / "model.onnx").version == "v2"
    (model_dir / "PROMOTED").write_text("v9")
    with pytest.raises(BundleError, match="v9"):
        load_bundle(model_dir)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no bundle"):
        load_bundle(tmp_path / "empty")
    bad = tmp_path / "bad" / "v1"
    shutil.copytree(src, bad)
    man = json.loads((bad / "manifest.json").read_text())
    man["feature_spec"]["per_sensor"] = ["mean", "wavelet_entropy"]
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(UnsupportedFeatureSpec, match="wavelet_entropy"):
        load_bundle(bad)
    (bad / "model.onnx").unlink()
    with pytest.raises(BundleError, match="model.onnx"):
        load_bundle(bad)


def test_manifest_output_name_is_checked(tmp_path):
    d = tmp_path / "iforest" / "v1"
    shutil.copytree(bundle("iforest"), d)
    man = json.loads((d / "manifest.json").read_text())
    man["output"]["name"] = "nope"
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="nope"):
        Scorer(d)
