"""Bundle writer: ``models/<name>/<version>/{model.onnx, manifest.json, reference_stats.json}``.

The reader is ``udfs.bundle.load_bundle``; the manifest is validated with its ``Manifest``
model before anything is written. Versions are UTC timestamps (``2026-11-23T13-55-02``),
made unique within the model folder (a clash moves to the next free second). Writes go to a
temporary folder first and are renamed into place, so a reader never sees half a bundle.

>>> stats = reference_stats(np.zeros((10, 1), "float32"), ["a.mean"], np.arange(10.0))
>>> sorted(stats), stats["rows"]
(['features', 'rows', 'scores'], 10)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
HIST_BINS = 20
VERSION_FORMAT = "%Y-%m-%dT%H-%M-%S"


def new_version(model_dir: Path, now: dt.datetime | None = None) -> str:
    """A UTC timestamp version not yet used under ``model_dir``."""
    t = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    while (model_dir / t.strftime(VERSION_FORMAT)).exists():
        t += dt.timedelta(seconds=1)
    return t.strftime(VERSION_FORMAT)


def fingerprint(frame: Any) -> str:
    """sha256 over a DataFrame's column names, dtypes and values (row order matters)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


def column_stats(values: np.ndarray) -> dict[str, Any]:
    """Quantiles, mean, std and a 20-bin histogram of one column (NaN ignored)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"quantiles": {}, "mean": None, "std": None, "hist": {"edges": [], "counts": []}}
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        hi = lo + 1e-9
    counts, edges = np.histogram(v, bins=HIST_BINS, range=(lo, hi))
    return {
        "quantiles": {str(q): float(x) for q, x in zip(QUANTILES, np.quantile(v, QUANTILES))},
        "mean": float(v.mean()), "std": float(v.std()),
        "hist": {"edges": edges.tolist(), "counts": counts.astype(int).tolist()},
    }


def reference_stats(features: np.ndarray, names: list[str], scores: np.ndarray) -> dict[str, Any]:
    """reference_stats.json: per-feature stats of the training features + score distribution."""
    f = np.asarray(features)
    if f.shape[1] != len(names):
        raise ValueError(f"{f.shape[1]} feature columns but {len(names)} names")
    return {"features": {n: column_stats(f[:, j]) for j, n in enumerate(names)},
            "scores": column_stats(scores), "rows": int(f.shape[0])}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a bundle (those importable here)."""
    from importlib import metadata

    out = {}
    for pkg in ("numpy", "pandas", "scikit-learn", "skl2onnx", "torch", "onnx", "onnxruntime",
                "mlflow-skinny", "optuna"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    import platform

    out["python"] = platform.python_version()
    return out


def write_bundle(out_root: str | Path, manifest: Any, onnx_bytes: bytes,
                 reference_stats: dict[str, Any]) -> Path:
    """Validate and write a bundle; return its version folder ``out_root/<name>/<version>``.

    ``manifest`` is a ``udfs.bundle.Manifest`` or a dict for it. An empty ``version`` gets a
    fresh timestamp; an existing version folder is never overwritten (``FileExistsError``).
    """
    from udfs.bundle import MANIFEST, MODEL, REFERENCE, Manifest

    data = manifest.manifest_json() if isinstance(manifest, Manifest) else dict(manifest)
    model_dir = Path(out_root) / str(data["name"])
    model_dir.mkdir(parents=True, exist_ok=True)
    if not data.get("version"):
        data["version"] = new_version(model_dir)
    if not data.get("created_at"):
        data["created_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    valid = Manifest.model_validate(data)  # raises on a bad manifest before touching disk
    target = model_dir / valid.version
    if target.exists():
        raise FileExistsError(f"bundle {target} exists; versions are immutable")
    tmp = Path(tempfile.mkdtemp(prefix=f".{valid.version}-", dir=model_dir))
    try:
        (tmp / MODEL).write_bytes(onnx_bytes)
        (tmp / MANIFEST).write_text(json.dumps(valid.manifest_json(), indent=2) + "\n")
        (tmp / REFERENCE).write_text(json.dumps(reference_stats) + "\n")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def promote(model_dir: str | Path, version: str) -> Path:
    """Point ``model_dir/PROMOTED`` at ``version`` (atomic replace); return the PROMOTED path."""
    from udfs.bundle import MANIFEST, PROMOTED

    d = Path(model_dir)
    if not (d / version / MANIFEST).is_file():
        raise FileNotFoundError(f"no bundle {d / version}")
    tmp = d / f".{PROMOTED}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, d / PROMOTED)
    return d / PROMOTED


def promoted_version(model_dir: str | Path) -> str | None:
    """The version named in ``model_dir/PROMOTED``, or None."""
    p = Path(model_dir) / "PROMOTED"
    return p.read_text().strip() or None if p.is_file() else None
