"""ONNX export helpers shared by the model kinds: graph surgery, sessions, parity and speed.

Every Vigil graph has ONE input named ``input`` (raw rows) and ONE output named ``score``
(``[B]``, higher = more anomalous). skl2onnx graphs are rewired to that shape here.

>>> import numpy as np
>>> from onnx import TensorProto, helper
>>> g = helper.make_graph([helper.make_node("ReduceMax", ["input"], ["score"], axes=[1], keepdims=0)],
...     "m", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
...     [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None])])
>>> data = make_model_bytes(g)
>>> run_onnx(data, np.array([[1, 3], [2, 0]], dtype="float32")).tolist()
[3.0, 2.0]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from training.models.base import INPUT_NAME, ONNX_ML_OPSET, ONNX_OPSET, OUTPUT_NAME


def make_model_bytes(graph: onnx.GraphProto, ml: bool = False) -> bytes:
    """Wrap ``graph`` into a checked ModelProto (opset 17, + ai.onnx.ml 3 when ``ml``)."""
    opsets = [helper.make_opsetid("", ONNX_OPSET)]
    if ml:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="vigil")
    model.ir_version = 8  # readable by every onnxruntime >= 1.10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def const(name: str, value: np.ndarray | float) -> onnx.TensorProto:
    """A float32 initializer."""
    return helper.make_tensor(
        name, TensorProto.FLOAT, np.shape(value), np.asarray(value, np.float32).ravel().tolist()
    )


def rewire_score(model: onnx.ModelProto, source: str, post: list[str] | None = None) -> bytes:
    """Make ``source`` (an existing tensor of ``model``) the single output ``score`` ``[B]``.

    ``post`` is a chain of unary/reduce ops applied first: ``"neg"`` (negate) or ``"min1"``
    (minimum over axis 1). The input is renamed ``input``; other outputs are dropped and the
    graph is pruned of nodes that no longer feed the score.
    """
    g = model.graph
    old_in = g.input[0].name
    if old_in != INPUT_NAME:
        for node in g.node:
            node.input[:] = [INPUT_NAME if i == old_in else i for i in node.input]
        g.input[0].name = INPUT_NAME
    cur = source
    new_nodes = []
    for i, op in enumerate(post or []):
        out = f"vigil_post_{i}"
        if op == "neg":
            new_nodes.append(helper.make_node("Neg", [cur], [out]))
        elif op == "min1":
            new_nodes.append(helper.make_node("ReduceMin", [cur], [out], axes=[1], keepdims=0))
        else:
            raise ValueError(f"unknown post op {op}")
        cur = out
    # Flatten to [B] whatever the source rank ([B], [B,1]).
    shape_name = "vigil_shape_flat"
    g.initializer.append(helper.make_tensor(shape_name, TensorProto.INT64, [1], [-1]))
    new_nodes.append(helper.make_node("Reshape", [cur, shape_name], [OUTPUT_NAME]))
    g.node.extend(new_nodes)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None]))
    _prune(g)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _prune(g: onnx.GraphProto) -> None:
    """Drop nodes (and initializers) that do not contribute to the graph outputs."""
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)


def session(onnx_bytes: bytes, threads: int = 1) -> Any:
    """One single-threaded onnxruntime session (the job's configuration)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(onnx_bytes: bytes | Any, x: np.ndarray) -> np.ndarray:
    """Score ``x`` with the graph (bytes or an existing session); float64 ``[B]``."""
    sess = session(onnx_bytes) if isinstance(onnx_bytes, bytes) else onnx_bytes
    out = sess.run(None, {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


@dataclass
class Parity:
    """Outcome of comparing ONNX scores with native scores on the same rows.

    A row mismatches when ``|onnx - native| / (1 + |native|) > rtol``; ``ok`` means none does.

    >>> parity(np.array([1.0, 2.0]), np.array([1.0, 2.001]), rtol=1e-4).ok
    False
    """

    rows: int
    max_abs: float
    max_rel: float
    rtol: float
    mismatched_rows: int

    @property
    def ok(self) -> bool:
        """True when every row is within ``rtol`` (relative to 1 + |native|)."""
        return self.mismatched_rows == 0

    def as_dict(self) -> dict[str, float | int | bool]:
        """JSON-ready form (goes into the manifest's metrics)."""
        return {"rows": self.rows, "max_abs": self.max_abs, "max_rel": self.max_rel,
                "rtol": self.rtol, "mismatched_rows": self.mismatched_rows, "ok": self.ok}


def parity(native: np.ndarray, onnx_scores: np.ndarray, rtol: float) -> Parity:
    """Compare two score vectors: error measured as |a-b| / (1 + |native|)."""
    native = np.asarray(native, np.float64).reshape(-1)
    onnx_scores = np.asarray(onnx_scores, np.float64).reshape(-1)
    if native.shape != onnx_scores.shape:
        raise ValueError(f"shape mismatch {native.shape} vs {onnx_scores.shape}")
    diff = np.abs(native - onnx_scores)
    rel = diff / (1.0 + np.abs(native))
    return Parity(rows=int(native.size), max_abs=float(diff.max(initial=0.0)),
                  max_rel=float(rel.max(initial=0.0)), rtol=rtol,
                  mismatched_rows=int((rel > rtol).sum()))


def check_parity(detector: Any, x: np.ndarray, onnx_bytes: bytes | None = None) -> Parity:
    """Score ``x`` natively and through onnxruntime; tolerance is the kind's ``parity_rtol``."""
    data = onnx_bytes if onnx_bytes is not None else detector.to_onnx()
    return parity(detector.score(x), run_onnx(data, x), detector.parity_rtol)


def rows_per_second(onnx_bytes: bytes, x: np.ndarray, batch: int, min_seconds: float = 0.5) -> float:
    """Throughput of one single-threaded session scoring ``x`` in batches of ``batch`` rows."""
    sess = session(onnx_bytes)
    x = np.ascontiguousarray(x, dtype=np.float32)
    batches = [x[i:i + batch] for i in range(0, max(len(x) - batch + 1, 1), batch)] or [x]
    sess.run(None, {INPUT_NAME: batches[0]})  # warm-up
    rows, start = 0, time.perf_counter()
    while True:
        for b in batches:
            sess.run(None, {INPUT_NAME: b})
            rows += len(b)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return rows / elapsed
