"""Tiny real model bundles for tests (until/besides training's bundles): z-score (onnx.helper),
Isolation Forest (scikit-learn Pipeline → skl2onnx) and a dense autoencoder (torch.onnx,
TorchScript exporter). Each writes ``<root>/<name>/<version>/{model.onnx, manifest.json,
reference_stats.json}`` exactly as DESIGN's bundle contract says and returns the version dir.

Import from a test module as ``from bundle_factory import make_iforest_bundle`` (pytest puts
``tests/`` on sys.path for rootless test folders). Seeded and deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from udfs.features import FeatureSpec

QUANTILES = ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99")


def normal_windows(n: int, window: int, n_sensors: int, seed: int = 0, noise: float = 0.1) -> np.ndarray:
    """Seeded 'healthy machine' windows [n, window, n_sensors]: correlated sinusoids + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(window)[None, :, None] + rng.uniform(0, 1000, size=(n, 1, 1))
    base = np.sin(2 * np.pi * t / 50.0)
    offs = np.arange(n_sensors)[None, None, :] * 1.0
    return (base * (1 + 0.1 * offs) + offs + noise * rng.standard_normal((n, window, n_sensors))).astype(np.float32)


def stats_of(x: np.ndarray) -> dict[str, Any]:
    x = np.asarray(x, dtype=np.float64)
    counts, edges = np.histogram(x, bins=20)
    return {
        "quantiles": {q: float(np.quantile(x, float(q))) for q in QUANTILES},
        "mean": float(x.mean()), "std": float(x.std()),
        "hist": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def reference_stats(features: np.ndarray, names: list[str], scores: np.ndarray) -> dict[str, Any]:
    """reference_stats.json content per the bundle contract."""
    return {
        "features": {n: stats_of(features[:, j]) for j, n in enumerate(names)},
        "scores": stats_of(scores),
        "rows": int(features.shape[0]),
    }


def write_bundle(root: str | Path, manifest: dict[str, Any], onnx_bytes: bytes, ref: dict[str, Any]) -> Path:
    d = Path(root) / manifest["name"] / manifest["version"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_bytes(onnx_bytes)
    (d / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (d / "reference_stats.json").write_text(json.dumps(ref))
    return d


def _manifest(name: str, version: str, kind: str, spec: FeatureSpec, in_name: str, in_kind: str,
              shape: list, out_name: str, direction: str, threshold: float) -> dict[str, Any]:
    return {
        "name": name, "version": version, "kind": kind, "created_at": "2026-11-23T00:00:00Z",
        "feature_spec": spec.model_dump(), "input": {"name": in_name, "kind": in_kind, "shape": shape},
        "output": {"name": out_name}, "score_direction": direction,
        "thresholds": {"global": float(threshold), "per_device": {}, "method": "quantile",
                       "target_false_alarm_rate": 0.01},
        "training": {"fingerprint": "test", "rows": 0, "source": "tests/bundle_factory.py"},
        "metrics": {}, "library_versions": {},
    }


def make_zscore_bundle(root: str | Path, sensors: list[str], window: int, slide: int = 1,
                       per_sensor: list[str] | None = None, name: str = "zscore",
                       version: str = "v1", seed: int = 0, train: np.ndarray | None = None) -> Path:
    """Score = max_j |x_j − μ_j| / σ_j over features (μ, σ from seeded normal windows)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = FeatureSpec(sensors=sensors, window=window, slide=slide,
                       per_sensor=per_sensor or ["mean", "std", "last", "zscore_last"])
    w = train if train is not None else normal_windows(2000, window, len(sensors), seed)
    f = spec.compute(w).astype(np.float64)
    mu, sd = f.mean(0), np.maximum(f.std(0), 1e-6)
    nodes = [
        helper.make_node("Sub", ["x", "mu"], ["c"]),
        helper.make_node("Div", ["c", "sd"], ["z"]),
        helper.make_node("Abs", ["z"], ["a"]),
        helper.make_node("ReduceMax", ["a"], ["score"], axes=[1], keepdims=0),
    ]
    g = helper.make_graph(
        nodes, "zscore",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", spec.n_features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(mu.astype(np.float32), "mu"), numpy_helper.from_array(sd.astype(np.float32), "sd")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    scores = np.abs((f - mu) / sd).max(1)
    man = _manifest(name, version, "zscore", spec, "x", "features", [None, spec.n_features], "score",
                    "higher_is_anomalous", float(np.quantile(scores, 0.995)))
    return write_bundle(root, man, model.SerializeToString(), reference_stats(f, spec.names(), scores))


def make_iforest_bundle(root: str | Path, sensors: list[str], window: int, slide: int = 1,
                        per_sensor: list[str] | None = None, cross_sensor: list[str] | None = None,
                        name: str = "iforest", version: str = "v1", seed: int = 0,
                        n_estimators: int = 100, train: np.ndarray | None = None) -> Path:
    """StandardScaler + IsolationForest via skl2onnx; output ``scores`` (lower = anomalous)."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    spec = FeatureSpec(sensors=sensors, window=window, slide=slide,
                       per_sensor=per_sensor or ["mean", "std", "min", "max", "last", "slope"],
                       cross_sensor=cross_sensor or [])
    w = train if train is not None else normal_windows(2000, window, len(sensors), seed)
    f = spec.compute(w)
    pipe = make_pipeline(StandardScaler(), IsolationForest(n_estimators=n_estimators, random_state=seed))
    pipe.fit(f)
    onx = to_onnx(pipe, f[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    in_name = onx.graph.input[0].name
    oriented = -pipe.decision_function(f)  # skl2onnx "scores" output = decision_function
    man = _manifest(name, version, "iforest", spec, in_name, "features", [None, spec.n_features], "scores",
                    "lower_is_anomalous", float(np.quantile(oriented, 0.995)))
    return write_bundle(root, man, onx.SerializeToString(), reference_stats(f, spec.names(), oriented))


def make_autoencoder_bundle(root: str | Path, sensors: list[str], window: int, slide: int = 1,
                            name: str = "autoencoder", version: str = "v1", seed: int = 0,
                            epochs: int = 60, hidden: int = 16, train: np.ndarray | None = None) -> Path:
    """Dense autoencoder on raw windows [B, T, S] (sequence input); score = mean squared
    reconstruction error of the standardised window; normalisation folded into the graph."""
    import io

    import torch

    torch.manual_seed(seed)
    spec = FeatureSpec(sensors=sensors, window=window, slide=slide, per_sensor=["mean", "std", "last"])
    w = train if train is not None else normal_windows(2000, window, len(sensors), seed)
    mu = torch.tensor(w.mean(axis=(0, 1)), dtype=torch.float32)
    sd = torch.tensor(np.maximum(w.std(axis=(0, 1)), 1e-6), dtype=torch.float32)
    d = window * len(sensors)

    class AE(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mu", mu)
            self.register_buffer("sd", sd)
            self.enc = torch.nn.Sequential(torch.nn.Linear(d, 2 * hidden), torch.nn.ReLU(), torch.nn.Linear(2 * hidden, hidden))
            self.dec = torch.nn.Sequential(torch.nn.Linear(hidden, 2 * hidden), torch.nn.ReLU(), torch.nn.Linear(2 * hidden, d))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = ((x - self.mu) / self.sd).flatten(1)
            return ((self.dec(self.enc(z)) - z) ** 2).mean(dim=1)

    m = AE()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    xt = torch.tensor(w)
    for _ in range(epochs):
        opt.zero_grad()
        loss = m(xt).mean()
        loss.backward()
        opt.step()
    m.eval()
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but exact for this MLP
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (xt[:2],), buf, input_names=["window"], output_names=["score"],
                          dynamic_axes={"window": {0: "batch"}, "score": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    with torch.no_grad():
        scores = m(xt).numpy()
    f = spec.compute(w)
    man = _manifest(name, version, "autoencoder", spec, "window", "sequence", [None, window, len(sensors)],
                    "score", "higher_is_anomalous", float(np.quantile(scores, 0.995)))
    return write_bundle(root, man, buf.getvalue(), reference_stats(f, spec.names(), scores))
