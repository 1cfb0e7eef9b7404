"""JobConfig sources (defaults < file < env < kwargs) and DriftMonitor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from udfs.config import JobConfig
from udfs.drift import DriftMonitor, ks_binned, psi
from udfs.schema import DEFAULT_LIMITS


def test_env_prefix_and_json_dicts(monkeypatch):
    monkeypatch.setenv("VIGIL_JOB_DELIVERY_GUARANTEE", "at_least_once")
    monkeypatch.setenv("VIGIL_JOB_OPERATING_LIMITS", '{"temperature": [0, 90]}')
    monkeypatch.setenv("VIGIL_JOB_PARALLELISM", "4")
    c = JobConfig()
    assert c.delivery_guarantee == "at_least_once" and c.parallelism == 4
    assert c.operating_limits == {"temperature": (0.0, 90.0)}
    monkeypatch.setenv("VIGIL_JOB_DELIVERY_GUARANTEE", "maybe_once")
    with pytest.raises(ValidationError):
        JobConfig()


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_then_env_then_kwargs(tmp_path, monkeypatch, suffix):
    data = {"window_mode": "time", "window_ms": 60000, "slide_ms": 10000, "imputation": "ewma",
            "parallelism": 2, "bundle_path": "models/x"}
    p = tmp_path / f"job{suffix}"
    if suffix == ".json":
        p.write_text(json.dumps(data))
    else:
        import yaml

        p.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("VIGIL_JOB_PARALLELISM", "3")
    c = JobConfig.from_file(p, bundle_path="models/y")
    assert (c.window_mode, c.window_ms, c.imputation) == ("time", 60000, "ewma")
    assert c.parallelism == 3 and c.bundle_path == "models/y"


def test_validation_errors():
    with pytest.raises(ValidationError, match="window_ms"):
        JobConfig(window_mode="time")
    with pytest.raises(ValidationError, match="lo"):
        JobConfig(operating_limits={"a": (2, 1)})
    with pytest.raises(ValidationError):
        JobConfig(unknown_option=1)
    assert JobConfig().sensor_limits() is DEFAULT_LIMITS
    assert JobConfig(physical_limits={"a": (0, 1)}).sensor_limits().violation("a", 2.0)


def test_psi_ks_basics():
    a = np.array([25, 25, 25, 25])
    assert psi(a, a) == 0 and ks_binned(a, a) == 0
    assert psi(a, np.array([0, 0, 0, 100])) > 1 and ks_binned(a, np.array([0, 0, 0, 100])) == pytest.approx(0.75)


def test_drift_monitor_detects_shift_and_roundtrips():
    rng = np.random.default_rng(0)
    ref_x = rng.normal(size=5000)
    counts, edges = np.histogram(ref_x, bins=20)
    ref = {"features": {"f": {"hist": {"edges": edges.tolist(), "counts": counts.tolist()}},
                        "g": {"hist": {"edges": edges.tolist(), "counts": counts.tolist()}}}}
    m = DriftMonitor(["f", "g", "unknown"], ref)
    m.update(np.column_stack([rng.normal(size=2000), rng.normal(2.0, 1.0, size=2000), np.zeros(2000)]))
    r = {x["feature"]: x for x in m.report("m", "v1")}
    assert set(r) == {"f", "g"} and not r["f"]["drifted"] and r["g"]["drifted"] and r["g"]["n"] == 2000
    m2 = DriftMonitor(["f", "g", "unknown"], ref)
    m2.from_bytes(m.to_bytes())
    assert m2.report("m", "v1") == m.report("m", "v1")
    m.reset()
    assert all(x["n"] == 0 for x in m.report("m", "v1"))
