"""Detector kinds and their registry (``make_detector(kind, **params)``).

>>> sorted(KINDS)
['autoencoder', 'iforest', 'kmeans', 'lstm_autoencoder', 'ocsvm', 'zscore']
"""

from __future__ import annotations

import importlib
from typing import Any

from training.models.base import Detector

#: kind → "module:Class" (imported lazily: torch and scikit-learn are heavy).
KINDS: dict[str, str] = {
    "zscore": "training.models.zscore:RobustZScore",
    "iforest": "training.models.iforest:IsolationForestDetector",
    "ocsvm": "training.models.ocsvm:OneClassSVMDetector",
    "kmeans": "training.models.kmeans:KMeansDetector",
    "autoencoder": "training.models.autoencoder:AutoencoderDetector",
    "lstm_autoencoder": "training.models.lstm_autoencoder:LSTMAutoencoderDetector",
}


def detector_class(kind: str) -> type[Detector]:
    """The Detector subclass for ``kind``; ``ValueError`` naming the known kinds otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    module, cls = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), cls)


def make_detector(kind: str, **params: Any) -> Detector:
    """A fresh, unfitted detector of ``kind``."""
    return detector_class(kind)(**params)
