"""Isolation Forest (scikit-learn) exported as ONE TreeEnsembleRegressor summing path lengths.

skl2onnx's converter builds a large graph (per-tree leaf lookups, gathers, many small ops)
that scores ~1k rows/s at batch 1. Here every tree becomes one tree of a single
``ai.onnx.ml.TreeEnsembleRegressor`` whose leaf value is that leaf's path-length
contribution (``depth + c(n_leaf) - 1``, as scikit-learn computes it); the ensemble's SUM is
the total depth ``D``, and the score is ``2^(-D / (n_trees · c(max_samples)))`` — exactly
``-IsolationForest.score_samples``. ``graph="skl2onnx"`` keeps the stock converter for comparison.

Assumptions: trees are split on float32 copies of X (as scikit-learn does); thresholds are
rounded DOWN to float32 so ``x <= t`` gives the same branch as scikit-learn's float64 compare.
No scaler (trees are invariant to per-feature monotone scaling).

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(300, 3)).astype("float32")
>>> det = IsolationForestDetector(n_estimators=10).fit(x, seed=0)
>>> s = det.score(np.vstack([x[:1], np.full((1, 3), 8.0, "float32")]))
>>> bool(s[1] > s[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from onnx import TensorProto, helper

from training.models.base import INPUT_NAME, OUTPUT_NAME, Detector


def _round_down_f32(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= t, so that (x32 <= t32) == (x32 <= t64) for every float32 x."""
    t32 = t.astype(np.float32)
    over = t32.astype(np.float64) > t
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


def _avg_path_length(n: np.ndarray) -> np.ndarray:
    """c(n) from the Isolation Forest paper, as scikit-learn defines it."""
    from sklearn.ensemble._iforest import _average_path_length

    return _average_path_length(np.asarray(n))


class IsolationForestDetector(Detector):
    """scikit-learn IsolationForest; score = ``-score_samples`` (in (0, 1], higher = anomalous)."""

    kind: ClassVar[str] = "iforest"
    parity_rtol: ClassVar[float] = 1e-5

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        # 100 trees of 256 samples (the paper's defaults); graph="fast" is the single-op export.
        return {"n_estimators": 100, "max_samples": 256, "max_features": 1.0, "graph": "fast"}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 25, 200, log=True),
            "max_samples": trial.suggest_int("max_samples", 64, 1024, log=True),
            "max_features": trial.suggest_float("max_features", 0.5, 1.0),
        }

    def _fit(self, x: np.ndarray, seed: int) -> None:
        from sklearn.ensemble import IsolationForest

        self.model = IsolationForest(
            n_estimators=int(self.params["n_estimators"]),
            max_samples=min(int(self.params["max_samples"]), len(x)),
            max_features=float(self.params["max_features"]),
            random_state=seed,
            n_jobs=1,
        ).fit(x)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return -self.model.score_samples(x)

    def _to_onnx(self) -> bytes:
        if self.params["graph"] == "skl2onnx":
            return self._to_onnx_skl2onnx()
        return self._to_onnx_fast()

    def _to_onnx_skl2onnx(self) -> bytes:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from training.export import rewire_score

        onx = convert_sklearn(
            self.model, initial_types=[(INPUT_NAME, FloatTensorType([None, self.n_inputs]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
        # "scores" = decision_function = score_samples - offset_, so -score_samples = -scores - offset_.
        model_bytes = rewire_score(onx, "scores", post=["neg"])
        return _add_constant(model_bytes, -float(self.model.offset_))

    def _to_onnx_fast(self) -> bytes:
        from training.export import const, make_model_bytes

        m = self.model
        attrs: dict[str, list] = {k: [] for k in (
            "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
            "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids",
            "target_ids", "target_weights")}
        thresholds: list[np.ndarray] = []
        for t, (est, feats) in enumerate(zip(m.estimators_, m.estimators_features_)):
            tree = est.tree_
            n = tree.node_count
            leaf = tree.children_left == -1
            if hasattr(m, "_decision_path_lengths"):
                contrib = (np.asarray(m._decision_path_lengths[t], np.float64)
                           + np.asarray(m._average_path_length_per_tree[t], np.float64) - 1.0)
            else:  # older scikit-learn: depth + c(n_leaf)
                contrib = tree.compute_node_depths() + _avg_path_length(tree.n_node_samples) - 1.0
            feat = np.where(leaf, 0, tree.feature)
            feat = np.asarray(feats)[feat] if len(feats) != self.n_inputs else feat
            attrs["nodes_treeids"] += [t] * n
            attrs["nodes_nodeids"] += list(range(n))
            attrs["nodes_featureids"] += [int(f) for f in feat]
            attrs["nodes_modes"] += ["LEAF" if lf else "BRANCH_LEQ" for lf in leaf]
            attrs["nodes_truenodeids"] += [int(c) if c >= 0 else 0 for c in tree.children_left]
            attrs["nodes_falsenodeids"] += [int(c) if c >= 0 else 0 for c in tree.children_right]
            thresholds.append(np.where(leaf, 0.0, _round_down_f32(tree.threshold)).astype(np.float32))
            leaves = np.flatnonzero(leaf)
            attrs["target_treeids"] += [t] * len(leaves)
            attrs["target_nodeids"] += [int(i) for i in leaves]
            attrs["target_ids"] += [0] * len(leaves)
            attrs["target_weights"] += [float(contrib[i]) for i in leaves]
        denom = len(m.estimators_) * float(_avg_path_length([m._max_samples])[0])
        ens = helper.make_node(
            "TreeEnsembleRegressor", [INPUT_NAME], ["depth_sum"], domain="ai.onnx.ml",
            n_targets=1, aggregate_function="SUM", post_transform="NONE",
            nodes_values=np.concatenate(thresholds).tolist(), **attrs,
        )
        nodes = [
            ens,
            # 2^(-D/denom) = exp(-D · ln2 / denom)
            helper.make_node("Mul", ["depth_sum", "k"], ["neg_scaled"]),
            helper.make_node("Exp", ["neg_scaled"], ["score2d"]),
            helper.make_node("Reshape", ["score2d", "flat"], [OUTPUT_NAME]),
        ]
        graph = helper.make_graph(
            nodes, "vigil_iforest",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, self.n_inputs])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None])],
            initializer=[const("k", np.float32(-np.log(2.0) / denom)),
                         helper.make_tensor("flat", TensorProto.INT64, [1], [-1])],
        )
        return make_model_bytes(graph, ml=True)


def _add_constant(model_bytes: bytes, value: float) -> bytes:
    """Append ``score = score + value`` to a Vigil graph (used for the skl2onnx variant)."""
    import onnx

    from training.export import const

    model = onnx.load_from_string(model_bytes)
    g = model.graph
    for node in g.node:
        node.output[:] = ["pre_offset" if o == OUTPUT_NAME else o for o in node.output]
    g.initializer.append(const("offset", np.float32(value)))
    g.node.append(helper.make_node("Add", ["pre_offset", "offset"], [OUTPUT_NAME]))
    onnx.checker.check_model(model)
    return model.SerializeToString()
