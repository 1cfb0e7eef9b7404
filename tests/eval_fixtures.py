"""Fixtures for the evaluation tests: where the benchmark data lives, skipping or failing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def datasets_root() -> Path:
    """``$VIGIL_DATASETS`` or ``<repo>/../shared/datasets``."""
    env = os.environ.get("VIGIL_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def require_dataset(rel: str) -> Path:
    """Path of a dataset file/folder; under CI=true a missing one fails, elsewhere it skips."""
    p = datasets_root() / rel
    if not p.exists():
        msg = f"dataset {rel!r} not found under {datasets_root()} (set VIGIL_DATASETS)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return p
