"""A NAB-faithful scorer: label windows, scaled sigmoid, profiles, corpus threshold, normalisation.

Independent implementation of the scoring rules of the Numenta Anomaly Benchmark v1.1
(github.com/numenta/NAB at ea702d7, ``nab/sweeper.py``, ``nab/optimizer.py``,
``nab/runner.py``), written from their documented behaviour. The details that decide the
numbers, all reproduced here:

* **Probationary period**: the first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of each file
  (at most 750) are not scored at all -- no TP, FP or FN can come from them; a label window
  whose rows all fall in it is not counted as missed.
* **Window-relative position**: inside a window of ``w`` rows whose last row has index ``r``,
  row ``i`` sits at ``-(r - i + 1) / w`` (so the first row is exactly -1.0); its weight is
  ``A_tp * scaledSigmoid(pos) / scaledSigmoid(-1)`` -- the earliest detection earns exactly
  ``A_tp``. Only the best (= earliest) detection of a window counts; a window without one
  costs ``-A_fn``.
* **False positives** outside windows cost ``A_fp * scaledSigmoid(|r_prev - i| / (w_prev - 1))``
  relative to the closest *preceding* window (a detection just after a window costs little),
  and ``-A_fp`` when no window precedes it. ``scaledSigmoid(x) = 2 / (1 + e^{5x}) - 1`` for
  ``x <= 3`` and ``-1`` beyond.
* **Threshold**: one threshold per detector and profile, the one maximising the summed
  score over the whole corpus (NAB's sweep over every distinct anomaly score; a row is a
  detection when ``score >= threshold``; ties keep the highest threshold).
* **Totals and normalisation**: per-file raw scores at that threshold are *summed* over the
  files (no per-file averaging), then ``100 * (S - S_null) / (S_perfect - S_null)`` where
  ``S_null`` is the null detector's optimised total (it never fires: ``-A_fn`` per scorable
  window) and ``S_perfect = A_tp * number_of_windows``.

Scores may be any real numbers (NAB's are in [0, 1]; ours are model scores, higher = more
anomalous). NaN means "no score" (e.g. before the first full window) and never detects.
Fails with ``ValueError`` on overlapping / unsorted windows or length mismatches.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

PROBATION_FRACTION = 0.15
"""NAB's probationary fraction of each file."""


@dataclass(frozen=True)
class Profile:
    """NAB application profile: weights of true/false positives/negatives."""

    name: str
    tp: float
    fp: float
    tn: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", tp=1.0, fp=0.11, tn=1.0, fn=1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", tp=1.0, fp=0.22, tn=1.0, fn=1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", tp=1.0, fp=0.11, tn=1.0, fn=2.0),
}
"""The three NAB profiles (config/profiles.json of NAB v1.x)."""


def scaled_sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    """NAB's ``scaledSigmoid``: 2*sigmoid(-5x) - 1, and -1 for x > 3.

    >>> [round(float(scaled_sigmoid(v)), 5) for v in (-1.0, -0.5, 0.0, 1.0, 3.5)]
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    a = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        v = np.where(a > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * a)) - 1.0)
    return float(v) if np.ndim(x) == 0 else v


MAX_TP = float(scaled_sigmoid(-1.0))


def probationary_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """Rows at the start of a file that are never scored (NAB: at most 750).

    >>> probationary_length(1624), probationary_length(22695)
    (243, 750)
    """
    return int(min(math.floor(fraction * n_rows), fraction * 5000))


def window_indices(ts: np.ndarray, windows: Sequence[tuple]) -> list[tuple[int, int]]:
    """Map ``(start, end)`` window limits (same units as ``ts``) to inclusive row indices.

    Follows NAB's row-order rule: a window starts at the first row whose timestamp equals
    ``start`` and ends at the first row equal to ``end`` (NAB's windows are cut on existing
    timestamps); when a limit is not an existing timestamp, the first row ``>= start`` /
    last row ``<= end`` is used. Timestamps need not be sorted (one NAB file steps back an
    hour once). Windows must come in order without overlapping; a window covering no row
    is dropped.

    >>> window_indices(np.array([0, 10, 20, 30, 40]), [(10, 30), (35, 50)])
    [(1, 3), (4, 4)]
    """
    ts = np.asarray(ts)
    out: list[tuple[int, int]] = []
    for start, end in windows:
        if end < start:
            raise ValueError(f"window ({start}, {end}) ends before it starts")
        hit = np.flatnonzero(ts == start)
        if not hit.size:
            hit = np.flatnonzero(ts >= start)
        hit_e = np.flatnonzero(ts == end)
        if not hit_e.size:
            hit_e = np.flatnonzero(ts <= end)[-1:]
        if not hit.size or not hit_e.size or hit_e[0] < hit[0]:
            continue
        s, e = int(hit[0]), int(hit_e[0])
        if out and s <= out[-1][1]:
            raise ValueError(f"label windows overlap or are unsorted at ({start}, {end})")
        out.append((s, e))
    return out


@dataclass
class FileSweep:
    """One file prepared for scoring: per-row scores and their NAB weights.

    ``tp_weight[i]`` (rows inside a window, before multiplying by ``A_tp``) and
    ``fp_weight[i]`` (rows outside, before multiplying by ``A_fp``) depend only on the
    labels, so thresholds and profiles can be swept cheaply.

    >>> ts = np.arange(20)
    >>> fs = FileSweep.build("f", ts, np.zeros(20), [(10, 13)])
    >>> fs.probation, fs.windows, round(float(fs.tp_weight[10]), 6), float(fs.fp_weight[5])
    (3, [(10, 13)], 1.0, -1.0)
    """

    name: str
    scores: np.ndarray
    window: np.ndarray  # window id per row, -1 outside any window
    tp_weight: np.ndarray
    fp_weight: np.ndarray
    probation: int
    windows: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        name: str,
        ts: np.ndarray | Sequence,
        scores: np.ndarray | Sequence,
        windows: Sequence[tuple],
        probation_fraction: float = PROBATION_FRACTION,
    ) -> "FileSweep":
        """Prepare a file from its timestamps, anomaly scores and label-window limits."""
        ts = np.asarray(ts)
        s = np.asarray(scores, dtype=np.float64)
        if ts.shape != s.shape or ts.ndim != 1:
            raise ValueError(f"{name}: timestamps {ts.shape} and scores {s.shape} must be equal 1-D")
        n = s.size
        wins = window_indices(ts, windows)
        win = np.full(n, -1, dtype=np.int64)
        idx = np.arange(n)
        tp_w = np.zeros(n)
        for k, (a, b) in enumerate(wins):
            win[a:b + 1] = k
            width = b - a + 1
            tp_w[a:b + 1] = scaled_sigmoid(-(b - idx[a:b + 1] + 1) / width) / MAX_TP
        fp_w = np.full(n, -1.0)
        if wins:
            ends = np.array([b for _, b in wins])
            widths = np.array([b - a + 1 for a, b in wins])
            prev = np.searchsorted(ends, idx, side="left") - 1  # last window ending before i
            has = (prev >= 0) & (win < 0)
            pe, pw = ends[prev[has]], widths[prev[has]]
            with np.errstate(divide="ignore"):
                pos = np.where(pw > 1, np.abs(pe - idx[has]) / np.maximum(pw - 1, 1), np.inf)
            fp_w[has] = scaled_sigmoid(pos)
        fp_w[win >= 0] = 0.0
        return cls(name, s, win, tp_w, fp_w, probationary_length(n, probation_fraction), wins)

    @property
    def n(self) -> int:
        return int(self.scores.size)

    def scorable_windows(self) -> list[int]:
        """Ids of windows with at least one row after the probationary period."""
        return sorted({int(k) for k in np.unique(self.window[self.probation:]) if k >= 0})


@dataclass
class FileScore:
    """NAB result of one file at one threshold (NAB's per-file row: Score, TP, TN, FP, FN)."""

    name: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int
    windows: int
    detected_windows: int


def score_file(fs: FileSweep, threshold: float, profile: Profile) -> FileScore:
    """Raw NAB score of one file when rows with ``score >= threshold`` are detections."""
    p = fs.probation
    s, win = fs.scores[p:], fs.window[p:]
    det = np.nan_to_num(s, nan=-np.inf) >= threshold
    inside = win >= 0
    fp_score = float(fs.fp_weight[p:][det & ~inside].sum()) * profile.fp
    total = fp_score
    detected = 0
    wins = fs.scorable_windows()
    for k in wins:
        m = det & (win == k)
        if m.any():
            detected += 1
            total += float(fs.tp_weight[p:][m].max()) * profile.tp
        else:
            total -= profile.fn
    tp = int((det & inside).sum())
    fp = int((det & ~inside).sum())
    fn = int((~det & inside).sum())
    tn = int((~det & ~inside).sum())
    return FileScore(fs.name, float(threshold), total, tp, tn, fp, fn, fs.n, len(wins), detected)


@dataclass
class ThresholdSweep:
    """Corpus score for every candidate threshold (descending), as NAB's sweep produces."""

    thresholds: np.ndarray
    scores: np.ndarray

    def best(self) -> tuple[float, float]:
        """(threshold, score) with the highest score; ties keep the highest threshold."""
        i = int(np.argmax(self.scores))
        return float(self.thresholds[i]), float(self.scores[i])


def sweep_thresholds(files: Iterable[FileSweep], profile: Profile) -> ThresholdSweep:
    """Corpus score at every distinct score value, the way NAB's optimizer sweeps.

    Vectorised: rows of all files sorted by descending score, each row's score change
    accumulated (an FP adds its weight; a window's value is the running max of its detected
    rows, starting from ``-A_fn``), read off at the last row of every run of equal scores.
    """
    sc, inside_w, tpw, fpw = [], [], [], []
    offset = 0
    n_windows = 0
    for fs in files:
        p = fs.probation
        s = np.nan_to_num(fs.scores[p:], nan=-np.inf)
        w = fs.window[p:]
        keep = np.isfinite(s) | (s == np.inf)
        gid = np.where(w >= 0, w + offset, -1)
        sc.append(s[keep])
        inside_w.append(gid[keep])
        tpw.append(fs.tp_weight[p:][keep])
        fpw.append(fs.fp_weight[p:][keep])
        offset += len(fs.windows)
        n_windows += len(fs.scorable_windows())
    base = -profile.fn * n_windows
    if not sc or sum(a.size for a in sc) == 0:
        return ThresholdSweep(np.array([np.inf]), np.array([base]))
    s = np.concatenate(sc)
    g = np.concatenate(inside_w)
    order = np.argsort(-s, kind="stable")
    s, g = s[order], g[order]
    tpw_s = np.concatenate(tpw)[order] * profile.tp
    fpw_s = np.concatenate(fpw)[order] * profile.fp
    delta = np.where(g < 0, fpw_s, 0.0)
    inw = g >= 0
    if inw.any():
        df = pd.DataFrame({"g": g[inw], "v": tpw_s[inw]})
        cm = df.groupby("g")["v"].cummax()
        prev = cm.groupby(df["g"]).shift(1).fillna(-profile.fn)
        delta[inw] = (cm - prev).to_numpy()
    total = base + np.cumsum(delta)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    return ThresholdSweep(np.r_[np.inf, s[last]], np.r_[base, total[last]])


@dataclass
class NabResult:
    """Normalised NAB score of one detector under one profile over a set of files."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    files: list[FileScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["threshold"] = None if not math.isfinite(self.threshold) else self.threshold
        for f in d["files"]:
            f["threshold"] = d["threshold"]
        return d


def null_score(files: Sequence[FileSweep], profile: Profile) -> float:
    """Optimised total of NAB's null detector (constant score) on these files."""
    nulls = [FileSweep(f.name, np.full(f.n, 0.5), f.window, f.tp_weight, f.fp_weight, f.probation, f.windows)
             for f in files]
    return sweep_thresholds(nulls, profile).best()[1]


def normalise(raw: float, null: float, perfect: float) -> float:
    """NAB's normalisation: null detector -> 0, perfect detector -> 100.

    >>> round(normalise(46.634450197137596, -116.0, 116.0), 2)  # NAB's numenta, standard
    70.1
    """
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def score_corpus(
    files: Sequence[FileSweep],
    profile: Profile,
    threshold: float | None = None,
) -> NabResult:
    """Optimise the threshold over ``files`` (unless given), score each file, normalise."""
    if threshold is None:
        threshold, _ = sweep_thresholds(files, profile).best()
    per_file = [score_file(f, threshold, profile) for f in files]
    raw = float(sum(f.score for f in per_file))
    null = null_score(files, profile)
    perfect = profile.tp * sum(len(f.windows) for f in files)
    return NabResult(profile.name, float(threshold), raw, null, perfect, normalise(raw, null, perfect), per_file)


def evaluate_nab(
    files: Sequence[FileSweep],
    groups: Mapping[str, Sequence[str]] | None = None,
    profiles: Mapping[str, Profile] = PROFILES,
) -> dict[str, dict[str, NabResult]]:
    """NAB scores per profile: ``{"corpus": {...}, <group>: {...}}``.

    The threshold is optimised once per profile over *all* ``files`` (NAB: one threshold per
    detector and profile for the whole corpus); each group (e.g. a NAB category) is then
    scored with that threshold and normalised with its own null and perfect scores.
    """
    out: dict[str, dict[str, NabResult]] = {"corpus": {}}
    for name, prof in profiles.items():
        corpus = score_corpus(files, prof)
        out["corpus"][name] = corpus
        for gname, members in (groups or {}).items():
            sub = [f for f in files if f.name in set(members)]
            if sub:
                out.setdefault(gname, {})[name] = score_corpus(sub, prof, threshold=corpus.threshold)
    return out


def load_nab_windows(labels_json: str | Path) -> dict[str, list[tuple[int, int]]]:
    """NAB's ``combined_windows.json`` as ``{relative_path: [(start_ms, end_ms), ...]}``."""
    raw = json.loads(Path(labels_json).read_text())
    out: dict[str, list[tuple[int, int]]] = {}
    for key, wins in raw.items():
        out[key] = [
            (int(pd.Timestamp(a).value // 1_000_000), int(pd.Timestamp(b).value // 1_000_000)) for a, b in wins
        ]
    return out
