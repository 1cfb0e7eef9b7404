"""Fixtures for the training tests: real SKAB slices, a small labelled simulator run, MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: Small labelled simulator run: 4 devices x 40 min, faults in train, validation and test.
SIM = {"devices": 4, "duration_s": 2400.0, "seed": 0, "anomaly_rate": 0.1,
       "start_ms": 1_767_225_600_000}
WINDOW, SLIDE = 30, 5


@pytest.fixture(scope="session")
def skab_dataset():
    """SKAB valve1/1.csv (1,145 rows, 8 sensors, labelled) through training.data."""
    from training.data import load_dataset, require_dataset

    return load_dataset(require_dataset("skab/valve1/1.csv"))


@pytest.fixture(scope="session")
def skab_prepared(skab_dataset):
    """Windows (30 readings, slide 2) and FeatureSpec features of the SKAB slice."""
    from training.train import TrainConfig, prepare

    return prepare(skab_dataset, TrainConfig(window=WINDOW, slide=2))


@pytest.fixture(scope="session")
def sim_frame():
    """The labelled simulator frame (training.simulator, deterministic)."""
    from training.simulator import SimConfig, to_frame

    return to_frame(SimConfig(**SIM))


@pytest.fixture(scope="session")
def sim_csv(tmp_path_factory) -> Path:
    """The same run written as the simulator's CSV (what `vigil simulate --out` writes)."""
    from training.simulator import SimConfig, write_csv

    path = tmp_path_factory.mktemp("sim") / "sim.csv"
    write_csv(SimConfig(**SIM), path)
    return path


@pytest.fixture()
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """A fresh SQLite MLflow store for one test (VIGIL_MLFLOW_URI)."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("VIGIL_MLFLOW_URI", uri)
    return uri


def spike(x: np.ndarray, factor: float = 8.0) -> np.ndarray:
    """Copy of ``x`` with every feature pushed ``factor`` standard deviations out."""
    return x + factor * x.std(axis=0, keepdims=True) + 1.0
