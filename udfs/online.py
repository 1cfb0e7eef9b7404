"""Online-learning scorers for univariate/streaming benchmarks (NAB): fit on the data seen so far.

They mimic :class:`udfs.scorer.Scorer` (``spec``, ``model_ref``, ``score_windows``) but are
stateful PER DEVICE: each window is scored against statistics of that device's earlier windows
and then learned (score, then learn). Results depend only on each device's window order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from udfs.alerts import ring_z
from udfs.explain import Explainer
from udfs.features import FeatureSpec


class OnlineZScore:
    """Score = max over features of |f − μ| / σ, with μ, σ (running, shifted sums) over the device's previous
    windows; 0 until ``min_history`` windows were seen.

    Assumes callers pass windows of one device in order, with ``device_ids`` per row. Fails on
    shape mismatch like the spec does. State lives in memory (replay only, not Flink).

    >>> spec = FeatureSpec(sensors=["v"], window=2, per_sensor=["last"])
    >>> oz = OnlineZScore(spec, min_history=3)
    >>> w = np.array([[[0.], [1.]], [[0.], [1.1]], [[0.], [0.9]], [[0.], [1.0]], [[0.], [9.0]]], np.float32)
    >>> oz.score_windows(w, ["d"] * 5).round(1).tolist()
    [0.0, 0.0, 0.0, 0.0, 113.1]
    """

    kind = "zscore"

    def __init__(self, spec: FeatureSpec, min_history: int = 30) -> None:
        spec.check_supported()
        self.spec = spec
        self.min_history = min_history
        self.stats: dict[str, list[Any]] = {}  # device → [n, mean, M2]
        self.explainer = Explainer(spec.names(), {})

    @property
    def model_ref(self) -> dict[str, str]:
        return {"name": "online-zscore", "version": "online"}

    def score_windows(self, windows: np.ndarray, device_ids: list[str], return_features: bool = False) -> Any:
        f = self.spec.compute(windows).astype(np.float64)
        out = np.zeros(len(f))
        ids = np.asarray(device_ids, dtype=object)
        for dev in dict.fromkeys(device_ids):  # devices in first-seen order; rows keep their order
            idx = np.flatnonzero(ids == dev)
            x = f[idx]
            st = self.stats.get(dev)
            if st is None:  # [n, shift, Σ(x−shift), Σ(x−shift)²]; the shift keeps sums well conditioned
                st = self.stats[dev] = [0, x[0].copy(), np.zeros(x.shape[1]), np.zeros(x.shape[1])]
            n0, k, s1, s2 = st
            y = x - k
            c1 = np.cumsum(y, axis=0)
            c2 = np.cumsum(y * y, axis=0)
            # statistics of everything BEFORE each row (score, then learn)
            p1 = s1 + np.vstack([np.zeros((1, y.shape[1])), c1[:-1]])
            p2 = s2 + np.vstack([np.zeros((1, y.shape[1])), c2[:-1]])
            n = (n0 + np.arange(len(y)))[:, None].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = p1 / n
                sd = np.sqrt(np.maximum(p2 / n - m * m, 0.0))
                z = np.abs(y - m) / np.maximum(sd, 1e-9 * np.maximum(1.0, np.abs(m + k)))
            sc = np.nan_to_num(z.max(axis=1), nan=0.0, posinf=1e12)
            out[idx] = np.where(n[:, 0] >= self.min_history, sc, 0.0)
            st[0], st[2], st[3] = n0 + len(y), s1 + c1[-1], s2 + c2[-1]
        return (out, f.astype(np.float32)) if return_features else out

    def explain(self, feature_rows: np.ndarray, k: int = 3) -> list[list[dict]]:
        return [[] for _ in range(len(feature_rows))]


class _ZTracker:
    """Per-device z of a short average of a raw score against that score's recent history.

    The likelihood mode's recipe (:func:`udfs.alerts.ring_z`: mean of the current and the
    ``short − 1`` previous raw scores vs μ, σ of the previous ``history`` raw scores), but the
    z itself is returned instead of Φ(z): Φ saturates at exactly 1.0 for z > 8.3 and
    then every strong anomaly ties, which a threshold sweep (NAB) cannot rank. 0 until
    ``min_history`` scores were seen.
    """

    __slots__ = ("hist", "n", "short", "min_history")

    def __init__(self, history: int, short: int, min_history: int) -> None:
        self.hist = np.zeros(history)
        self.n = 0
        self.short = short
        self.min_history = min_history

    def update(self, raw: float) -> float:
        z = ring_z(self.hist, self.n, raw, self.short, self.min_history)
        self.hist[self.n % len(self.hist)] = raw
        self.n += 1
        return 0.0 if z is None else z


@dataclass
class _DeviceMemory:
    """One device's :class:`OnlineSurprise` state: earlier windows (ring), windows seen, and
    the two score trackers."""

    buf: np.ndarray
    n: int
    context_z: _ZTracker
    level_z: _ZTracker


class OnlineSurprise:
    """Score = max of two per-device surprise z's, each learnt online (score, then learn):

    * **context**: Euclidean distance from the window's raw values to the NEAREST earlier,
      non-overlapping window of the same device (the last ``memory`` windows are kept) -- a
      pattern that already occurred (a daily cycle, a repeated spike) is not surprising, a new
      shape or level is (the idea of nearest-neighbour / "left discord" detectors such as
      KNN-CAD, written from their published description);
    * **level**: :class:`OnlineZScore` of the window features (max |z| over features).

    Each raw score becomes a z against the device's last ``history`` raw scores of that kind
    (short average of ``short`` scores, as the job's likelihood); the output is the larger z,
    in "sigmas", unbounded (no saturation), 0 while a device is still warming up. Pair it with
    the alert policy's ``fixed`` threshold mode (e.g. ``threshold=3``).

    Assumes windows of one device arrive in order (slide ``spec.slide``) with ``device_ids`` per
    row, and sensors on comparable scales (raw values are compared; NAB is univariate). Memory
    per device: ``memory × window × sensors`` float64 plus two ``history`` rings. Cost per
    window: O(memory × window). State lives in memory (replay's online mode).

    >>> spec = FeatureSpec(sensors=["v"], window=4, per_sensor=["mean", "std", "last"])
    >>> x = np.tile([0., 1., 2., 1.], 60)          # a repeating pattern...
    >>> x[200] = 9.0                               # ...with one spike
    >>> w = np.lib.stride_tricks.sliding_window_view(x, 4)[:, :, None]
    >>> s = OnlineSurprise(spec, history=100, min_history=20).score_windows(w, ["d"] * len(w))
    >>> int(np.argmax(s)) + 3, bool(s.max() > 10 and abs(s[150]) < 3)  # peaks at the spike's row
    (200, True)
    """

    kind = "surprise"

    def __init__(self, spec: FeatureSpec, memory: int = 20_000, history: int = 500, short: int = 5,
                 min_history: int = 50, zscore_min_history: int = 30, min_neighbours: int = 10) -> None:
        spec.check_supported()
        self.spec = spec
        self.memory = memory
        self.history, self.short, self.min_history = history, short, min_history
        self.min_neighbours = min_neighbours
        # windows overlapping the current one are not "earlier" patterns (slide 1: the last window−1)
        self.exclude = -(-spec.window // max(1, spec.slide)) - 1
        self.level = OnlineZScore(spec, min_history=zscore_min_history)
        self.devices: dict[str, _DeviceMemory] = {}
        self.explainer = self.level.explainer

    @property
    def model_ref(self) -> dict[str, str]:
        return {"name": "online-surprise", "version": "online"}

    def _state(self, dev: str, width: int) -> _DeviceMemory:
        st = self.devices.get(dev)
        if st is None:
            st = self.devices[dev] = _DeviceMemory(np.zeros((0, width)), 0,
                                                   _ZTracker(self.history, self.short, self.min_history),
                                                   _ZTracker(self.history, self.short, self.min_history))
        return st

    def _context(self, st: _DeviceMemory, w: np.ndarray) -> float | None:
        """Nearest-neighbour distance to earlier windows (None: too few yet); then remember ``w``."""
        n, cap = st.n, self.memory
        usable = max(0, min(n, cap) - self.exclude)  # ring slots older than the overlapping ones
        d = None
        if usable >= self.min_neighbours:
            if n <= cap:
                past = st.buf[:usable]
            else:  # ring: oldest slot is n % cap; take `usable` slots from there
                past = st.buf[(n % cap + np.arange(usable)) % cap]
            d = float(np.sqrt(((past - w) ** 2).sum(axis=1)).min())
        if n < cap and n >= len(st.buf):  # grow geometrically up to `memory`
            grown = np.zeros((min(cap, max(64, 2 * len(st.buf))), w.size))
            grown[: len(st.buf)] = st.buf
            st.buf = grown
        st.buf[n % cap] = w
        st.n = n + 1
        return d

    def score_windows(self, windows: np.ndarray, device_ids: list[str], return_features: bool = False) -> Any:
        windows = np.asarray(windows, dtype=np.float64)
        lvl, feats = self.level.score_windows(windows, device_ids, return_features=True)
        flat = windows.reshape(len(windows), -1)
        out = np.zeros(len(flat))
        for i, dev in enumerate(device_ids):
            st = self._state(dev, flat.shape[1])
            d = self._context(st, flat[i])
            zc = st.context_z.update(d) if d is not None else 0.0
            zl = st.level_z.update(float(lvl[i]))
            out[i] = max(zc, zl)
        return (out, feats) if return_features else out

    def explain(self, feature_rows: np.ndarray, k: int = 3) -> list[list[dict]]:
        return self.level.explain(feature_rows, k)
