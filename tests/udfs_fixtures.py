"""Shared, cached test bundles for the udfs/replay tests (built once per process, seeded)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from bundle_factory import make_autoencoder_bundle, make_iforest_bundle, make_zscore_bundle

SENSORS = ["a", "b", "c"]
WINDOW = 16


@functools.lru_cache(maxsize=None)
def _root() -> Path:
    import atexit
    import shutil

    d = Path(tempfile.mkdtemp(prefix="udfs-bundles-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.lru_cache(maxsize=None)
def bundle(kind: str) -> Path:
    """Version dir of a small bundle: ``zscore`` | ``iforest`` | ``autoencoder``."""
    _ROOT = _root()
    if kind == "zscore":
        return make_zscore_bundle(_ROOT, SENSORS, WINDOW, slide=2)
    if kind == "iforest":
        return make_iforest_bundle(_ROOT, SENSORS, WINDOW, slide=2, n_estimators=50,
                                   cross_sensor=["mean_corr"])
    if kind == "autoencoder":
        return make_autoencoder_bundle(_ROOT, SENSORS, WINDOW, slide=2, epochs=40)
    raise ValueError(kind)
