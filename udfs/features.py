"""Window features: the :class:`FeatureSpec` a model bundle carries, computed vectorized.

``compute(windows)`` takes float ``[B, T, S]`` windows (already imputed, no NaN; T = spec.window
readings, S = len(spec.sensors)) and returns float32 ``[B, F]`` in the order of ``names()``:
all per-sensor features sensor-major (``temperature.mean, temperature.std, …``), then the
cross-sensor ones (``cross.mean_corr``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import BaseModel, Field

_EPS = 1e-9


class UnsupportedFeatureSpec(ValueError):
    """The bundle asks for something this build cannot compute (message names both sides)."""


def _slope(w: np.ndarray) -> np.ndarray:
    # Least-squares slope per reading index, vectorized over [B, T, S].
    t = np.arange(w.shape[1], dtype=np.float64)
    tc = t - t.mean()
    return np.einsum("t,bts->bs", tc, w) / max(float((tc * tc).sum()), _EPS)


def _linear_fit(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of a per-sensor linear fit and the fitted line, both [B, T, S]."""
    T = w.shape[1]
    t = np.arange(T, dtype=np.float64)
    tc = (t - t.mean())[None, :, None]
    fit = w.mean(axis=1, keepdims=True) + _slope(w)[:, None, :] * tc
    return w - fit, fit


def _power(w: np.ndarray) -> np.ndarray:
    """One-sided power spectrum of the mean-removed window, bins 1..T//2: [B, K, S]."""
    x = w - w.mean(axis=1, keepdims=True)
    p = np.abs(np.fft.rfft(x, axis=1)) ** 2 / w.shape[1] ** 2
    return p[:, 1:, :]


def _peaks(w: np.ndarray) -> np.ndarray:
    # Local maxima higher than mean + 1 std of the window.
    mid = w[:, 1:-1, :]
    thr = (w.mean(axis=1) + w.std(axis=1))[:, None, :]
    is_peak = (mid > w[:, :-2, :]) & (mid >= w[:, 2:, :]) & (mid > thr)
    return is_peak.sum(axis=1).astype(np.float64)


def _spectral_energy(w: np.ndarray) -> np.ndarray:
    return _power(w).sum(axis=1)


def _spectral_hf_ratio(w: np.ndarray) -> np.ndarray:
    p = _power(w)
    k = p.shape[1]
    return p[:, k // 2:, :].sum(axis=1) / (p.sum(axis=1) + _EPS)


def _dominant_freq(w: np.ndarray) -> np.ndarray:
    p = _power(w)
    return (p.argmax(axis=1) + 1) / w.shape[1]


def _zscore_last(w: np.ndarray) -> np.ndarray:
    return (w[:, -1, :] - w.mean(axis=1)) / (w.std(axis=1) + _EPS)


def _residual(w: np.ndarray) -> np.ndarray:
    r, _ = _linear_fit(w)
    return np.sqrt((r * r).mean(axis=1))


def _residual_last(w: np.ndarray) -> np.ndarray:
    r, _ = _linear_fit(w)
    return r[:, -1, :] / (np.sqrt((r * r).mean(axis=1)) + _EPS)


PER_SENSOR: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda w: w.mean(axis=1),
    "std": lambda w: w.std(axis=1),
    "min": lambda w: w.min(axis=1),
    "max": lambda w: w.max(axis=1),
    "last": lambda w: w[:, -1, :],
    "range": lambda w: w.max(axis=1) - w.min(axis=1),
    "slope": _slope,
    "zscore_last": _zscore_last,
    "peaks": _peaks,
    "spectral_energy": _spectral_energy,
    "spectral_hf_ratio": _spectral_hf_ratio,
    "dominant_freq": _dominant_freq,
    "residual": _residual,
    "residual_last": _residual_last,
    "diff_std": lambda w: np.diff(w, axis=1).std(axis=1),
}
"""Per-sensor feature name → f(windows [B,T,S]) → [B,S]."""


def _corr(w: np.ndarray) -> np.ndarray:
    """Pairwise Pearson correlation [B, S, S]; constant sensors correlate 0 with everything."""
    x = w - w.mean(axis=1, keepdims=True)
    sd = np.sqrt((x * x).mean(axis=1))  # [B, S]
    cov = np.einsum("bts,btu->bsu", x, x) / w.shape[1]
    ok = sd > 1e-12
    den = np.where(ok[:, :, None] & ok[:, None, :], sd[:, :, None] * sd[:, None, :], np.inf)
    return cov / den


def _offdiag_mean(c: np.ndarray) -> np.ndarray:
    s = c.shape[1]
    if s < 2:
        return np.zeros(c.shape[0])
    return (c.sum(axis=(1, 2)) - np.trace(c, axis1=1, axis2=2)) / (s * (s - 1))


def _pc1_ratio(w: np.ndarray) -> np.ndarray:
    """Share of total variance on the first principal component of the standardised window."""
    c = _corr(w)
    s = c.shape[1]
    idx = np.arange(s)
    # Constant sensors got 0 everywhere; give them unit variance so the ratio stays in [1/S, 1].
    c[:, idx, idx] = 1.0
    ev = np.linalg.eigvalsh(c)
    return ev[:, -1] / np.maximum(ev.sum(axis=1), _EPS)


CROSS_SENSOR: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean_corr": lambda w: _offdiag_mean(_corr(w)),
    "mean_abs_corr": lambda w: _offdiag_mean(np.abs(_corr(w))),
    "pc1_ratio": _pc1_ratio,
}
"""Cross-sensor feature name → f(windows [B,T,S]) → [B]."""


class FeatureSpec(BaseModel):
    """What a model expects from a window: sensors, window/slide in readings, feature names.

    Assumes windows are already imputed (no NaN) and have exactly ``window`` readings of the
    ``sensors`` in this order. Fails with :class:`UnsupportedFeatureSpec` (from
    ``check_supported``/``compute``) on unknown features or bad shapes.

    >>> spec = FeatureSpec(sensors=["a", "b"], window=4, slide=1,
    ...                    per_sensor=["mean", "last"], cross_sensor=["mean_corr"])
    >>> spec.names()
    ['a.mean', 'a.last', 'b.mean', 'b.last', 'cross.mean_corr']
    >>> w = np.array([[[1, 2], [2, 4], [3, 6], [4, 8]]], dtype=np.float32)
    >>> spec.compute(w).round(3).tolist()
    [[2.5, 4.0, 5.0, 8.0, 1.0]]
    """

    sensors: list[str] = Field(min_length=1)
    window: int = Field(ge=2)
    slide: int = Field(default=1, ge=1)
    per_sensor: list[str] = Field(default_factory=lambda: ["mean", "std", "min", "max", "last", "slope"])
    cross_sensor: list[str] = Field(default_factory=list)

    def names(self) -> list[str]:
        """Feature names in column order of :meth:`compute`."""
        out = [f"{s}.{f}" for s in self.sensors for f in self.per_sensor]
        return out + [f"cross.{f}" for f in self.cross_sensor]

    @property
    def n_features(self) -> int:
        return len(self.sensors) * len(self.per_sensor) + len(self.cross_sensor)

    def check_supported(self) -> None:
        """Raise :class:`UnsupportedFeatureSpec` if this build cannot compute the spec."""
        problems = []
        bad_ps = [f for f in self.per_sensor if f not in PER_SENSOR]
        bad_cs = [f for f in self.cross_sensor if f not in CROSS_SENSOR]
        if bad_ps:
            problems.append(f"per-sensor feature(s) {bad_ps}; this build computes {sorted(PER_SENSOR)}")
        if bad_cs:
            problems.append(f"cross-sensor feature(s) {bad_cs}; this build computes {sorted(CROSS_SENSOR)}")
        if len(set(self.sensors)) != len(self.sensors):
            problems.append(f"unique sensor names (got {self.sensors})")
        if len(set(self.per_sensor)) != len(self.per_sensor) or len(set(self.cross_sensor)) != len(self.cross_sensor):
            problems.append("each feature at most once")
        if "peaks" in self.per_sensor and self.window < 3:
            problems.append("'peaks' with window >= 3")
        if problems:
            raise UnsupportedFeatureSpec("bundle needs " + "; and ".join(problems))

    def compute(self, windows: np.ndarray) -> np.ndarray:
        """Windows ``[B, window, n_sensors]`` (a single ``[window, n_sensors]`` is promoted)
        → float32 ``[B, n_features]``."""
        w = np.asarray(windows, dtype=np.float64)
        if w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[1] != self.window or w.shape[2] != len(self.sensors):
            raise UnsupportedFeatureSpec(
                f"windows of shape {tuple(w.shape)}; spec expects [B, {self.window}, {len(self.sensors)}]"
            )
        self.check_supported()
        out = np.empty((w.shape[0], self.n_features), dtype=np.float32)
        nf = len(self.per_sensor)
        for j, f in enumerate(self.per_sensor):
            out[:, j: len(self.sensors) * nf: nf] = PER_SENSOR[f](w)
        base = len(self.sensors) * nf
        for j, f in enumerate(self.cross_sensor):
            out[:, base + j] = CROSS_SENSOR[f](w)
        return out
