"""Evaluation orchestration: train per file, detect THROUGH replay, score with NAB / SKAB / metrics.

Detection always goes through ``jobs.replay.replay(dataset, bundle, config)`` -- the job's
own per-device code path -- and models are always trained by ``training.train`` (the
training engineer's API); this module only decides *what data* trains and *what rows* are
scored, then hands per-row scores to :mod:`training.nab_scorer`,
:mod:`training.skab_protocol` and :mod:`training.metrics`.

Protocols (no test label is used to choose anything except NAB's own corpus-level
threshold, which the benchmark defines as part of its score):

* **NAB** (per file, univariate ``value``): the model trains on the probationary period
  (first 15 %, at most 750 rows) and is re-trained every ``nab_refit_every`` rows (default
  1000) on everything seen so far -- online learning as NAB allows, no peeking ahead; each
  chunk is replayed with the model trained on its past (plus ``NAB_CONTEXT_ROWS`` earlier rows
  so windows and the likelihood history are warm). ``online_zscore`` uses replay's online
  mode instead (score, then learn, per device; no bundle). The score handed to the NAB
  scorer is, by default, the job's own anomaly likelihood (``threshold_mode=likelihood``);
  ``likelihood`` computes Numenta's log-scaled likelihood here (:func:`anomaly_likelihood`).
* **SKAB** (per ``valve1`` file): first 400 rows train; the alarm threshold is an upper
  control limit on the *training* rows' replayed scores; rows 400+ are scored; pooled F1 /
  FAR / MAR.
* **Labelled CSV / simulator**: time-ordered split (first ``train_fraction`` of each device
  trains), the bundle's calibrated threshold decides; point + event metrics + delay.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from training import metrics as M
from training.nab_scorer import PROFILES, FileSweep, evaluate_nab, probationary_length
from training.skab_protocol import SKAB_TRAIN_ROWS, SkabFileResult, pool, ucl_threshold

NAB_CATEGORIES = ("artificialWithAnomaly", "realKnownCause", "realAdExchange")
SIM_DEVICES = 10
SIM_DURATION_S = 4 * 3600.0
SIM_ANOMALY_RATE = 0.06  # more (not longer) faults than the demo default, so event metrics mean something


class EvalConfig(BaseModel):
    """Evaluation-specific detector configuration (passed to training and replay)."""

    window: int | None = Field(None, ge=2, description="window length in readings (None: per-dataset default)")
    per_sensor: list[str] | None = None
    seed: int = 0
    # NAB
    nab_refit_every: int | None = Field(1000, ge=10, description="re-train on everything seen every N rows (None: once)")
    nab_calibration: str = Field("job", pattern="^(none|likelihood|job)$",
                                 description="job: the job's own likelihood mode (replay threshold_mode=likelihood); "
                                             "likelihood: Numenta-style log likelihood computed here; none: raw")
    nab_detections: str = Field("alert_opens", pattern="^(scores|alert_opens)$",
                                description="alert_opens: only rows where the job's alert policy opens an "
                                            "alert keep their score (what an operator is paged for)")
    likelihood_history: int = Field(1000, ge=20)
    likelihood_short: int = Field(5, ge=1)
    likelihood_threshold: float = Field(0.99865, gt=0, lt=1,
                                        description="job likelihood mode: alert threshold (0.99865 = Φ(3))")
    min_duration: int = Field(1, ge=1, description="NAB, job likelihood mode: the alert policy's min duration")
    surprise_threshold: float = Field(3.0, gt=0, description="online_surprise: alert threshold in sigmas (fixed mode)")
    surprise_history: int = Field(500, ge=20, description="online_surprise: raw-score history of each z")
    surprise_min_duration: int = Field(2, ge=1, description="online_surprise: the alert policy's min duration")
    # SKAB
    skab_q: float = Field(0.99, gt=0, lt=1)
    skab_factor: float = Field(4 / 3, gt=0)
    skab_policy: str = Field("threshold", pattern="^(threshold|alerts)$")
    # labelled CSV / simulator
    train_fraction: float = Field(0.4, gt=0, lt=1)
    policy: str = Field("alerts", pattern="^(threshold|alerts)$")
    train_params: dict[str, Any] = Field(default_factory=dict)


NAB_CONTEXT_ROWS = 200  # > JobConfig.likelihood_min_history (50)
DEFAULT_WINDOWS = {"nab": 16, "skab": 30, "generic": 30}
DEFAULT_FEATURES = {
    "nab": ["mean", "std", "last", "zscore_last", "residual_last", "diff_std", "range"],
    "skab": ["mean", "std", "min", "max", "last", "slope", "residual", "diff_std"],
}


# --------------------------------------------------------------------------- adapters
# The only two places that touch other engineers' modules.

def train_bundle(kind: str, frame: pd.DataFrame, sensors: list[str], out_root: Path, *, window: int,
                 per_sensor: list[str] | None, seed: int, params: dict[str, Any] | None = None,
                 cross_sensor: list[str] | None = None) -> Path:
    """Train ``kind`` on ``frame`` (all of it is "past") with training.train; return the bundle dir.

    Slide 1, so replay scores every row; 75 % of the windows fit the model, the last 25 %
    calibrate its threshold (training.train's time-ordered split; no test part).
    """
    from training.train import DEFAULT_CROSS, DEFAULT_PER_SENSOR, TrainConfig, train

    cfg = TrainConfig(kind=kind, params=dict(params or {}), window=window, slide=1,
                      per_sensor=list(per_sensor or DEFAULT_PER_SENSOR),
                      cross_sensor=list(cross_sensor if cross_sensor is not None
                                        else (DEFAULT_CROSS if len(sensors) > 1 else [])),
                      sensors=list(sensors), seed=seed, split=(0.75, 0.25), name=f"eval-{kind}")
    res = train(frame, cfg, out_root=out_root, track=False)
    if res.bundle_path is None:
        raise RuntimeError("training.train wrote no bundle")
    return Path(res.bundle_path)


@dataclass
class Replayed:
    """Per-row outputs of replay aligned to the input frame's rows."""

    scores: np.ndarray      # score the alert policy compared (likelihood in that mode); NaN: no window yet
    alert: np.ndarray       # row inside an open `anomaly` alert of the job's alert policy
    threshold: float | None
    raw: np.ndarray | None = None  # the model's own score before any calibration


def replay_rows(frame: pd.DataFrame, sensors: list[str], bundle: Path, config_overrides: dict | None = None,
                name: str = "eval") -> Replayed:
    """Replay ``frame`` through jobs.replay (the job's per-device code) and align it to rows."""
    from jobs.replay import replay
    from training.data import Dataset
    from udfs.bundle import load_bundle
    from udfs.config import JobConfig

    cfg = JobConfig(bundle_path=str(bundle), **(config_overrides or {}))
    ds = Dataset(frame=frame.reset_index(drop=True), sensors=list(sensors), name=name)
    return align_replay(ds.frame, replay(ds, load_bundle(bundle), cfg))


ONLINE_KINDS = {"online_zscore": "zscore", "online_surprise": "surprise"}
"""Model "kinds" served by replay's online mode (per-device learning on everything seen so far,
no bundle): the NAB-style way to learn online without re-training chunks."""


def replay_online_rows(frame: pd.DataFrame, sensors: list[str], kind: str, window: int,
                       per_sensor: list[str], config_overrides: dict | None = None, name: str = "eval") -> Replayed:
    """Replay ``frame`` with jobs.replay's online scorer (score, then learn, per device)."""
    from jobs.replay import replay
    from training.data import Dataset
    from udfs.config import JobConfig
    from udfs.features import FeatureSpec

    overrides = {"threshold_mode": "fixed", "threshold": float("inf"), **(config_overrides or {})}
    cfg = JobConfig(window=window, slide=1, **overrides)
    spec = FeatureSpec(sensors=list(sensors), window=window, slide=1, per_sensor=list(per_sensor))
    ds = Dataset(frame=frame.reset_index(drop=True), sensors=list(sensors), name=name)
    return align_replay(ds.frame, replay(ds, None, cfg, online=ONLINE_KINDS[kind], online_spec=spec))


def align_replay(frame: pd.DataFrame, res: Any) -> Replayed:
    """Per-row scores / alert state of a ReplayResult, in ``frame``'s row order.

    Uses ``res.points`` (one row per reading, frame order: the score of the latest window
    ended at or before it) when present; otherwise maps per-window ``res.scores`` and alert
    intervals by (device, ts).
    """
    pts = getattr(res, "points", None)
    if isinstance(pts, pd.DataFrame):
        if len(pts) != len(frame):
            raise ValueError(f"replay returned {len(pts)} points for {len(frame)} rows")
        thr = pd.to_numeric(pts["threshold"], errors="coerce").dropna()
        return Replayed(pts["score"].to_numpy(np.float64), pts["is_alert_open"].to_numpy(bool),
                        float(thr.iloc[-1]) if len(thr) else None, pts["raw_score"].to_numpy(np.float64))
    sc = res.scores if isinstance(res.scores, pd.DataFrame) else pd.DataFrame(res.scores)
    ts_col = next(c for c in ("ts", "window_end", "window_end_ms", "ts_ms") if c in sc.columns)
    key = pd.MultiIndex.from_arrays([frame["device_id"].astype(str).to_numpy(), frame["ts"].to_numpy()])
    s = sc.drop_duplicates(subset=["device_id", ts_col], keep="last")
    skey = pd.MultiIndex.from_arrays([s["device_id"].astype(str).to_numpy(), s[ts_col].to_numpy()])
    scores = pd.Series(s["score"].to_numpy(np.float64), index=skey).reindex(key).to_numpy()
    alert = np.zeros(len(frame), dtype=bool)
    thr = None
    for a in getattr(res, "alerts", []) or []:
        d = a if isinstance(a, dict) else a.model_dump() if hasattr(a, "model_dump") else vars(a)
        if d.get("kind", "anomaly") != "anomaly":
            continue
        thr = d.get("threshold", thr)
        start = _to_ms(d.get("window_end") or d.get("window_start"))
        end = _to_ms(d.get("closed_at") or d.get("end"))
        dev = frame["device_id"].astype(str).to_numpy() == str(d["device_id"])
        t = frame["ts"].to_numpy()
        alert |= dev & (t >= start) & ((t <= end) if end is not None else (t == start))
    if getattr(res, "threshold", None) is not None:
        thr = res.threshold
    return Replayed(scores, alert, thr, scores)


def bundle_threshold(bundle: Path) -> float:
    """The bundle's calibrated global threshold (manifest ``thresholds.global``)."""
    m = json.loads((Path(bundle) / "manifest.json").read_text())
    return float(m["thresholds"]["global"])


def _to_ms(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    return int(pd.Timestamp(v).as_unit("ms").value // 1_000_000)


# --------------------------------------------------------------------------- calibration

def anomaly_likelihood(scores: np.ndarray, history: int = 1000, short: int = 5, min_history: int = 50) -> np.ndarray:
    """Causal anomaly likelihood of raw scores, on NAB's log scale (0..1, higher = rarer).

    Numenta's recipe: a short moving average of the raw score is compared with the mean and
    standard deviation of the previous ``history`` averages (strictly the past, so no
    peeking); the Gaussian tail probability ``p`` becomes ``log(1.0000000001 - (1-p)) /
    log(1e-10)``. Rows with less than ``min_history`` past values score 0.

    >>> s = np.r_[np.random.default_rng(0).normal(0, 1, 300), [8.0]]
    >>> lk = anomaly_likelihood(s)
    >>> bool(lk[-1] == lk.max() and lk[:50].max() == 0.0)
    True
    """
    from scipy.stats import norm

    x = pd.Series(np.asarray(scores, dtype=np.float64))
    avg = x.rolling(short, min_periods=1).mean()
    past = avg.shift(1)
    mu = past.rolling(history, min_periods=min_history).mean()
    sd = past.rolling(history, min_periods=min_history).std()
    sd = np.maximum(sd.to_numpy(), 1e-6 + 1e-3 * np.abs(mu.to_numpy()))
    z = (avg.to_numpy() - mu.to_numpy()) / sd
    out = log_likelihood(1.0 - norm.sf(z))
    out = np.where(np.isfinite(out), out, 0.0)
    return np.clip(out, 0.0, 1.0)


def log_likelihood(likelihood: np.ndarray | float) -> np.ndarray:
    """Numenta's log scale of an anomaly likelihood: ``log(1.0000000001 − L) / log(1e-10)``.

    Spreads likelihoods near 1 over 0..1 (0.5 → 0.03, 0.9999 → 0.4, 1 → 1.0). It is
    monotone, so it does not change which rows a threshold sweep (NAB) can separate: it
    cannot undo ties of likelihoods that are already exactly 1.0 (tested).

    >>> log_likelihood(np.array([0.5, 0.9999, 1.0])).round(3).tolist()
    [0.03, 0.4, 1.0]
    """
    lik = np.asarray(likelihood, dtype=np.float64)
    return np.log(1.0000000001 - lik) / math.log(1.0 - 0.9999999999)


# --------------------------------------------------------------------------- NAB

@dataclass
class NabFileRun:
    """Per-file scores on the NAB rows."""

    name: str
    ts_ms: np.ndarray
    values: np.ndarray
    raw: np.ndarray
    scores: np.ndarray
    seconds: float


def _nab_frame(path: Path, device: str) -> pd.DataFrame:
    f = pd.read_csv(path)
    return pd.DataFrame({
        "device_id": device,
        "ts": pd.to_datetime(f["timestamp"]).dt.as_unit("ms").astype("int64").to_numpy(),
        "value": f["value"].astype(np.float64).to_numpy(),
    })


def run_nab_file(kind: str | None, bundle: Path | None, path: Path, rel: str, cfg: EvalConfig, work: Path) -> NabFileRun:
    """Train on the probationary period (or use ``bundle``), replay the file, calibrate."""
    t0 = time.perf_counter()
    frame = _nab_frame(path, device=rel.split("/")[-1].removesuffix(".csv"))
    n = len(frame)
    prob = probationary_length(n)
    window = cfg.window or DEFAULT_WINDOWS["nab"]
    feats = cfg.per_sensor or DEFAULT_FEATURES["nab"]
    if ONLINE_KINDS.get(kind or "") == "surprise":
        # its score is already a z ("sigmas", unbounded): the policy's fixed mode, no likelihood
        overrides = {"threshold_mode": "fixed", "threshold": cfg.surprise_threshold,
                     "likelihood_history": cfg.surprise_history, "likelihood_short": cfg.likelihood_short,
                     "min_duration": cfg.surprise_min_duration}
    elif cfg.nab_calibration == "job":
        overrides = {"threshold_mode": "likelihood", "likelihood_history": cfg.likelihood_history,
                     "likelihood_short": cfg.likelihood_short, "likelihood_threshold": cfg.likelihood_threshold,
                     "min_duration": cfg.min_duration}
    else:
        overrides = {}

    def pick(r: Replayed) -> np.ndarray:
        v = r.scores if cfg.nab_calibration == "job" else r.raw
        if cfg.nab_detections == "alert_opens":
            opens = r.alert & ~np.r_[False, r.alert[:-1]]
            v = np.where(opens, v, np.where(np.isnan(v), np.nan, -np.inf))
        return v

    raw = np.full(n, np.nan)
    if bundle is not None:
        raw = pick(replay_rows(frame, ["value"], bundle, overrides, name=rel))
    elif kind in ONLINE_KINDS:
        raw = pick(replay_online_rows(frame, ["value"], kind, window, feats, overrides, name=rel))
    else:
        starts = [prob] if not cfg.nab_refit_every else list(range(prob, n, cfg.nab_refit_every))
        for i, start in enumerate(starts):
            stop = starts[i + 1] if i + 1 < len(starts) else n
            b = train_bundle(kind, frame.iloc[:start], ["value"], work / f"nab-{i}", window=window,
                             per_sensor=feats, seed=cfg.seed, params=cfg.train_params)
            # Later chunks replay earlier rows too (with the new model, past data only) so their
            # first windows are full and the likelihood history is warm at ``start``.
            lo = 0 if i == 0 else max(0, start - window + 1 - NAB_CONTEXT_ROWS)
            part = pick(replay_rows(frame.iloc[lo:stop].reset_index(drop=True), ["value"], b, overrides, name=rel))
            first = 0 if i == 0 else start
            raw[first:stop] = part[first - lo:]
    scores = raw
    if cfg.nab_calibration == "likelihood":
        filled = pd.Series(raw).ffill().fillna(0.0).to_numpy()
        scores = anomaly_likelihood(filled, cfg.likelihood_history, cfg.likelihood_short)
        scores[np.isnan(raw)] = np.nan
    return NabFileRun(rel, frame["ts"].to_numpy(), frame["value"].to_numpy(), raw, scores, time.perf_counter() - t0)


def evaluate_nab_corpus(runs: list[NabFileRun], windows: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """NAB scores (3 profiles) for the corpus and per category, JSON-ready."""
    files = [FileSweep.build(r.name, r.ts_ms, r.scores, windows.get(r.name, [])) for r in runs]
    groups: dict[str, list[str]] = {}
    for r in runs:
        groups.setdefault(r.name.split("/")[0], []).append(r.name)
    res = evaluate_nab(files, groups=groups)
    out: dict[str, Any] = {}
    for g, profs in res.items():
        out[g] = {p: {"score": v.score, "raw": v.raw, "null": v.null, "perfect": v.perfect,
                      "threshold": v.threshold if math.isfinite(v.threshold) else None,
                      "files": {f.name: {"score": f.score, "tp": f.tp, "fp": f.fp, "fn": f.fn,
                                         "windows": f.windows, "detected": f.detected_windows}
                                for f in v.files}}
                  for p, v in profs.items()}
    return out


# --------------------------------------------------------------------------- SKAB

@dataclass
class SkabRun:
    """One SKAB file after replay: all rows, and which are scored."""

    name: str
    frame: pd.DataFrame
    scores: np.ndarray
    threshold: float
    preds: np.ndarray


SKAB_SENSORS = ["Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature",
                "Thermocouple", "Voltage", "Volume Flow RateRMS"]


def _skab_frame(path: Path, device: str) -> pd.DataFrame:
    f = pd.read_csv(path, sep=";")
    out = pd.DataFrame({"device_id": device,
                        "ts": pd.to_datetime(f["datetime"]).dt.as_unit("ms").astype("int64").to_numpy()})
    for s in SKAB_SENSORS:
        out[s] = f[s].astype(np.float64).to_numpy()
    out["label"] = f["anomaly"].astype(np.int64).to_numpy()
    return out


def run_skab_file(kind: str | None, bundle: Path | None, path: Path, name: str, cfg: EvalConfig, work: Path) -> SkabRun:
    """Train on the first 400 rows, threshold from their replayed scores, score the rest."""
    frame = _skab_frame(path, device=name.replace("/", "-"))
    window = cfg.window or DEFAULT_WINDOWS["skab"]
    feats = cfg.per_sensor or DEFAULT_FEATURES["skab"]
    train = frame.iloc[:SKAB_TRAIN_ROWS]
    if bundle is None:
        bundle = train_bundle(kind, train.drop(columns=["label"]), SKAB_SENSORS, work / "skab", window=window,
                              per_sensor=feats, seed=cfg.seed, params=cfg.train_params)
    rep = replay_rows(frame.drop(columns=["label"]), SKAB_SENSORS, bundle, name=name)
    thr = ucl_threshold(rep.scores[:SKAB_TRAIN_ROWS], cfg.skab_q, cfg.skab_factor)
    if cfg.skab_policy == "alerts":
        preds = rep.alert
    else:
        preds = np.nan_to_num(rep.scores, nan=-np.inf) > thr
    return SkabRun(name, frame, rep.scores, thr, preds)


def evaluate_skab_runs(runs: list[SkabRun]) -> dict[str, Any]:
    """Pooled SKAB metrics over the scored rows (400+) of every file."""
    files = [SkabFileResult(r.name, r.threshold, r.frame["label"].to_numpy()[SKAB_TRAIN_ROWS:],
                            r.preds[SKAB_TRAIN_ROWS:], r.scores[SKAB_TRAIN_ROWS:],
                            r.frame["ts"].to_numpy()[SKAB_TRAIN_ROWS:]) for r in runs]
    return pool(files).summary()


# --------------------------------------------------------------------------- labelled CSV / simulator

def split_by_time(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First ``fraction`` of each device's readings (by ts) vs the rest."""
    f = frame.sort_values(["device_id", "ts"], kind="stable")
    rank = f.groupby("device_id").cumcount()
    size = f.groupby("device_id")["ts"].transform("size")
    first = rank < (size * fraction).astype(int)
    return f[first], f[~first]


def evaluate_labelled(kind: str | None, bundle: Path | None, frame: pd.DataFrame, sensors: list[str],
                      cfg: EvalConfig, work: Path, name: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Time-ordered split, train (unless a bundle is given), replay the test part, metrics.

    Returns the JSON-ready summary and the scored test rows (with ``score``, ``pred``)."""
    if "label" not in frame.columns:
        raise ValueError(f"{name}: no 'label' column; evaluation needs labelled data")
    train, test = split_by_time(frame, cfg.train_fraction)
    if bundle is None:
        bundle = train_bundle(kind, train.drop(columns=[c for c in ("label", "fault_kind") if c in train]),
                              sensors, work / "generic", window=cfg.window or DEFAULT_WINDOWS["generic"],
                              per_sensor=cfg.per_sensor, seed=cfg.seed, params=cfg.train_params)
    test = test.reset_index(drop=True)
    rep = replay_rows(test.drop(columns=[c for c in ("label", "fault_kind") if c in test]), sensors, bundle, name=name)
    if cfg.policy == "alerts":
        preds = rep.alert
    else:
        thr = rep.threshold if rep.threshold is not None else bundle_threshold(bundle)
        rep.threshold = thr
        preds = np.nan_to_num(rep.scores, nan=-np.inf) >= thr
    y = test["label"].to_numpy()
    pm = M.point_metrics(y, preds)
    masks = [(test["device_id"] == d).to_numpy() for d in test["device_id"].unique()]
    ev_parts = [M.event_metrics(y[m], preds[m], test["ts"].to_numpy()[m]) for m in masks]
    events = sum(e.events for e in ev_parts)
    detected = sum(e.detected for e in ev_parts)
    delays = [d for e in ev_parts for d in e.delays_ms]
    rows = test.assign(score=rep.scores, pred=preds)
    return {"point": pm.to_dict(), "event": {"events": events, "detected": detected,
                                             "recall": detected / events if events else 0.0,
                                             "mean_delay_ms": float(np.mean(delays)) if delays else None},
            "rows_scored": int(len(test)), "threshold": None if rep.threshold is None else float(rep.threshold),
            "bundle": str(bundle)}, rows


# --------------------------------------------------------------------------- result shell

@dataclass
class EvaluationResult:
    """What ``vigil evaluate`` writes: one JSON document and a Markdown table."""

    model: str
    data: str
    config: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps({"model": self.model, "data": self.data, "config": self.config,
                           "results": self.results, "seconds": round(self.seconds, 1)}, indent=1, default=_jsonable)

    def to_markdown(self) -> str:
        return render_markdown_rows([self])


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def summary_row(r: EvaluationResult) -> dict[str, Any]:
    """Flatten a result into the table row used by the report."""
    row: dict[str, Any] = {"model": r.model, "data": r.data}
    nab = r.results.get("nab")
    if nab:
        for g, profs in nab.items():
            for p, v in profs.items():
                row[f"nab.{g}.{p}"] = v["score"]
    sk = r.results.get("skab")
    if sk:
        row.update({"skab.f1": sk["f1"], "skab.far": sk["far"], "skab.mar": sk["mar"]})
    gen = r.results.get("labelled")
    if gen:
        row.update({"labelled.f1": gen["point"]["f1"], "labelled.event_recall": gen["event"]["recall"],
                    "labelled.mean_delay_ms": gen["event"]["mean_delay_ms"]})
    return row


def render_markdown_rows(results: list[EvaluationResult]) -> str:
    """A Markdown table: NAB per category and profile, SKAB F1/FAR/MAR, labelled-data F1."""
    rows = [summary_row(r) for r in results]
    cols = ["model", "data"] + sorted({k for r in rows for k in r} - {"model", "data"})
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |\n" for r in rows)


# --------------------------------------------------------------------------- entry point

def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``nab``, ``nab:realKnownCause``, ``skab``, ``skab:valve1``, ``sim[:SEED]`` or a path.

    >>> parse_data_spec("nab:realKnownCause"), parse_data_spec("skab"), parse_data_spec("x.csv")
    (('nab', 'realKnownCause'), ('skab', 'valve1'), ('path', 'x.csv'))
    """
    head, _, tail = spec.partition(":")
    if head == "sim":
        return "sim", tail or "11"
    if head == "nab":
        if tail and tail not in NAB_CATEGORIES:
            raise ValueError(f"unknown NAB category {tail!r}; available: {', '.join(NAB_CATEGORIES)}")
        return "nab", tail or None
    if head == "skab":
        if tail and tail != "valve1":
            raise ValueError(f"unknown SKAB group {tail!r}; available: valve1")
        return "skab", "valve1"
    return "path", spec


def datasets_root() -> Path:
    """``$VIGIL_DATASETS`` or ``<repo>/../shared/datasets`` (training.data's rule)."""
    try:
        from training.data import datasets_root as dr

        return Path(dr())
    except ImportError:
        import os

        env = os.environ.get("VIGIL_DATASETS")
        return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


def run_evaluation(data: str, kind: str | None = None, bundle: str | Path | None = None,
                   cfg: EvalConfig | None = None, work: Path | None = None,
                   progress: Callable[[str], None] | None = None,
                   limit_files: int | None = None) -> EvaluationResult:
    """Evaluate a model kind (trained per file) or a fixed bundle on a dataset spec."""
    if (kind is None) == (bundle is None):
        raise ValueError("give exactly one of --model KIND or --bundle PATH")
    cfg = cfg or EvalConfig()
    if work is None:  # per-file bundles are scratch: train, replay, delete
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="vigil-eval-"))
        try:
            return run_evaluation(data, kind, bundle, cfg, tmp, progress, limit_files)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    work = Path(work)
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    what, arg = parse_data_spec(data)
    if kind in ONLINE_KINDS and what != "nab":
        raise ValueError(f"{kind} learns online from the rows it scores; it is evaluated on NAB only")
    res = EvaluationResult(model=kind or str(bundle), data=data, config=cfg.model_dump())
    b = Path(bundle) if bundle else None
    if what == "nab":
        from training.nab_scorer import load_nab_windows

        root = datasets_root() / "nab"
        labels = root / "labels" / "combined_windows.json"
        if not labels.exists():
            raise FileNotFoundError(f"NAB labels not found at {labels} (set VIGIL_DATASETS)")
        windows = load_nab_windows(labels)
        cats = [arg] if arg else [c for c in NAB_CATEGORIES if (root / c).is_dir()]
        rels = sorted(k for k in windows if k.split("/")[0] in cats and (root / k).exists())[:limit_files]
        runs = []
        for i, rel in enumerate(rels):
            say(f"[{i + 1}/{len(rels)}] NAB {rel}")
            runs.append(run_nab_file(kind, b, root / rel, rel, cfg, work / f"f{i}"))
        res.results["nab"] = evaluate_nab_corpus(runs, windows)
        res.results["_nab_runs"] = runs
    elif what == "skab":
        root = datasets_root() / "skab" / "valve1"
        if not root.is_dir():
            raise FileNotFoundError(f"SKAB valve1 not found at {root} (set VIGIL_DATASETS)")
        paths = sorted(root.glob("*.csv"), key=lambda p: int(p.stem))[:limit_files]
        runs = []
        for i, p in enumerate(paths):
            say(f"[{i + 1}/{len(paths)}] SKAB valve1/{p.stem}")
            runs.append(run_skab_file(kind, b, p, f"valve1/{p.stem}", cfg, work / f"s{i}"))
        res.results["skab"] = evaluate_skab_runs(runs)
        res.results["_skab_runs"] = runs
    elif what == "sim":
        from training.simulator import SimConfig, to_frame

        frame = to_frame(SimConfig(devices=SIM_DEVICES, duration_s=SIM_DURATION_S, rate=1.0, seed=int(arg),
                                   anomaly_rate=SIM_ANOMALY_RATE, start_ms=1_700_000_000_000))
        sensors = [c for c in frame.columns if c not in ("device_id", "ts", "label", "fault_kind")]
        say(f"simulator seed {arg}: {len(frame)} readings, {frame['label'].mean():.1%} labelled anomalous")
        res.results["labelled"], res.results["_labelled_rows"] = evaluate_labelled(
            kind, b, frame, sensors, cfg, work, f"sim:{arg}")
    else:
        from training.data import load_dataset

        ds = load_dataset(arg)
        say(f"labelled data {ds.name}: {len(ds.frame)} rows, {len(ds.sensors)} sensors")
        res.results["labelled"], res.results["_labelled_rows"] = evaluate_labelled(
            kind, b, ds.frame, list(ds.sensors), cfg, work, ds.name)
    res.seconds = time.perf_counter() - t0
    return res


def public_results(res: EvaluationResult) -> EvaluationResult:
    """Copy without the private per-row runs (kept in memory for the report's plots)."""
    return EvaluationResult(res.model, res.data, res.config,
                            {k: v for k, v in res.results.items() if not k.startswith("_")}, res.seconds)


PROFILE_NAMES = tuple(PROFILES)
