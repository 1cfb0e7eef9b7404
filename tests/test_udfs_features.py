"""Features (vs plain loops), imputation and the ring buffer."""

from __future__ import annotations

import numpy as np
import pytest

from udfs.features import CROSS_SENSOR, PER_SENSOR, FeatureSpec, UnsupportedFeatureSpec
from udfs.imputation import impute
from udfs.windows import RingBuffer, resample


def _spec(**kw) -> FeatureSpec:
    base = dict(sensors=["a", "b", "c"], window=32, slide=4, per_sensor=sorted(PER_SENSOR),
                cross_sensor=sorted(CROSS_SENSOR))
    base.update(kw)
    return FeatureSpec(**base)


def test_names_order_and_shape():
    spec = _spec()
    w = np.random.default_rng(0).normal(size=(5, 32, 3))
    f = spec.compute(w)
    assert f.dtype == np.float32 and f.shape == (5, spec.n_features) == (5, len(spec.names()))
    assert spec.names()[0] == f"a.{spec.per_sensor[0]}" and spec.names()[-1] == f"cross.{spec.cross_sensor[-1]}"
    assert np.isfinite(f).all()


def test_per_sensor_values_match_loops():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 32, 3)) + np.linspace(0, 3, 32)[None, :, None]
    spec = _spec()
    f = spec.compute(w).astype(np.float64)
    names = spec.names()
    col = {n: f[:, i] for i, n in enumerate(names)}
    for b in range(4):
        for j, s in enumerate(spec.sensors):
            x = w[b, :, j]
            t = np.arange(32)
            slope, icpt = np.polyfit(t, x, 1)
            resid = x - (slope * t + icpt)
            ps = np.abs(np.fft.rfft(x - x.mean())) ** 2 / 32 ** 2
            exp = {
                "mean": x.mean(), "std": x.std(), "min": x.min(), "max": x.max(), "last": x[-1],
                "range": np.ptp(x), "slope": slope, "zscore_last": (x[-1] - x.mean()) / x.std(),
                "residual": np.sqrt((resid ** 2).mean()), "residual_last": resid[-1] / np.sqrt((resid ** 2).mean()),
                "spectral_energy": ps[1:].sum(), "diff_std": np.diff(x).std(),
                "dominant_freq": (np.argmax(ps[1:]) + 1) / 32,
                "spectral_hf_ratio": ps[1:][len(ps[1:]) // 2:].sum() / ps[1:].sum(),
                "peaks": sum(1 for i in range(1, 31) if x[i] > x[i - 1] and x[i] >= x[i + 1] and x[i] > x.mean() + x.std()),
            }
            for k, v in exp.items():
                assert col[f"{s}.{k}"][b] == pytest.approx(v, rel=1e-4, abs=1e-4), (s, k)
        c = np.corrcoef(w[b].T)
        off = c[~np.eye(3, dtype=bool)]
        assert col["cross.mean_corr"][b] == pytest.approx(off.mean(), abs=1e-5)
        assert col["cross.mean_abs_corr"][b] == pytest.approx(np.abs(off).mean(), abs=1e-5)
        ev = np.linalg.eigvalsh(c)
        assert col["cross.pc1_ratio"][b] == pytest.approx(ev[-1] / ev.sum(), abs=1e-5)


def test_constant_sensor_gives_finite_features():
    w = np.ones((2, 16, 3))
    w[:, :, 1] = np.arange(16)
    f = _spec(window=16).compute(w)
    assert np.isfinite(f).all()


def test_spectral_energy_sees_vibration():
    t = np.arange(64)
    calm = np.sin(2 * np.pi * t / 32)[None, :, None]
    shaky = calm + 0.5 * np.sin(2 * np.pi * t / 3)[None, :, None]
    spec = FeatureSpec(sensors=["v"], window=64, per_sensor=["spectral_energy", "spectral_hf_ratio"])
    a, b = spec.compute(calm)[0], spec.compute(shaky)[0]
    assert b[0] > a[0] and b[1] > 0.15 > 0.01 > a[1]


def test_unsupported_spec_names_both_sides():
    spec = _spec(per_sensor=["mean", "wavelet"], cross_sensor=["granger"])
    with pytest.raises(UnsupportedFeatureSpec) as e:
        spec.check_supported()
    msg = str(e.value)
    assert "wavelet" in msg and "granger" in msg and "this build computes" in msg and "mean" in msg
    with pytest.raises(UnsupportedFeatureSpec, match="shape"):
        _spec().compute(np.zeros((1, 10, 3)))
    with pytest.raises(UnsupportedFeatureSpec, match="unique"):
        FeatureSpec(sensors=["a", "a"], window=4).check_supported()


# --------------------------------------------------------------------------- imputation
def test_impute_methods():
    w = np.array([[np.nan, 1], [2, np.nan], [np.nan, np.nan], [4, 7]], np.float32)
    ff = impute(w, "ffill", max_gap=2)
    assert ff.ok and ff.values.tolist() == [[2, 1], [2, 1], [2, 1], [4, 7]] and ff.imputed == 4
    li = impute(w, "linear", max_gap=2)
    assert li.values.tolist() == [[2, 1], [2, 3], [3, 5], [4, 7]]
    ew = impute(w, "ewma", max_gap=2, alpha=0.5)
    assert ew.ok and ew.values[1, 1] == 1 and ew.values[2, 0] == 2 and ew.fraction == 0.5
    assert not impute(w, "ffill", max_gap=1).ok
    assert not impute(np.full((3, 1), np.nan, np.float32), "linear", 5).ok
    full = np.ones((3, 2), np.float32)
    assert impute(full, "ewma", 0).imputed == 0
    with pytest.raises(ValueError):
        impute(w, "spline", 5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ring buffer
def test_ring_buffer_order_merge_and_drop():
    b = RingBuffer(4, 2)
    assert b.insert(10, np.array([1, 1], np.float32)) == "appended"
    assert b.insert(30, np.array([3, 3], np.float32)) == "appended"
    assert b.insert(20, np.array([2, 2], np.float32)) == "inserted"
    assert b.insert(20, np.array([np.nan, 9], np.float32)) == "merged"
    assert b.values.tolist() == [[1, 1], [2, 9], [3, 3]]
    b.insert(40, np.array([4, 4], np.float32))
    b.insert(50, np.array([5, 5], np.float32))  # full → oldest dropped
    assert b.ts.tolist() == [20, 30, 40, 50]
    assert b.insert(5, np.array([0, 0], np.float32)) == "dropped"
    assert b.insert(25, np.array([2.5, 2.5], np.float32)) == "inserted"
    assert b.ts.tolist() == [25, 30, 40, 50]
    with pytest.raises(ValueError):
        b.insert(60, np.zeros(3, np.float32))


def test_growable_buffer_and_evict():
    b = RingBuffer(2, 1, growable=True, max_capacity=8)
    for t in range(10):
        b.insert(t, np.array([t], np.float32))
    assert b.cap == 8 and b.ts.tolist() == list(range(2, 10))
    assert b.evict_before(5) == 3 and b.ts[0] == 5


def test_resample_empty_bins_are_nan():
    g = resample(np.array([0, 100, 950]), np.array([[1.0], [np.nan], [3.0]]), 0, 1000, 4)
    assert g[0, 0] == 1.0 and np.isnan(g[1:3, 0]).all() and g[3, 0] == 3.0


def test_longest_nan_run_matches_loop():
    from udfs.imputation import longest_nan_run

    rng = np.random.default_rng(5)
    for _ in range(200):
        m = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 6)))) < rng.random()
        exp = []
        for col in m.T:
            best = cur = 0
            for x in col:
                cur = cur + 1 if x else 0
                best = max(best, cur)
            exp.append(best)
        assert longest_nan_run(m).tolist() == exp
