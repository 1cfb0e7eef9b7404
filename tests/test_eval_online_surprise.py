"""OnlineSurprise (udfs/online.py), its replay mode, and the log-likelihood transform (pure, no stack)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jobs.replay import replay
from training.evaluate import log_likelihood
from training.nab_scorer import PROFILES, FileSweep, sweep_thresholds
from udfs.alerts import AlertPolicy
from udfs.config import JobConfig
from udfs.features import FeatureSpec
from udfs.online import OnlineSurprise, _ZTracker

SPEC = FeatureSpec(sensors=["value"], window=8, slide=1, per_sensor=["mean", "std", "last"])


def _series(n: int = 1500, spike: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.sin(np.arange(n) * 2 * np.pi / 50) + rng.normal(0, 0.05, n)  # a repeating "daily" cycle
    x[spike] += 4.0
    return x


def _windows(x: np.ndarray, w: int = 8) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, w)[:, :, None].copy()


def test_spike_in_a_repeating_pattern_is_the_top_score() -> None:
    x = _series()
    s = OnlineSurprise(SPEC).score_windows(_windows(x), ["d"] * (len(x) - 7))
    rows = np.arange(len(s)) + 7  # window i ends at row i + 7
    assert rows[int(np.argmax(s))] == 1200
    assert s.max() > 10
    # the cycle itself, once learnt, is not surprising
    assert np.quantile(s[rows > 400], 0.99) < 6


def test_scores_do_not_depend_on_batching_or_other_devices() -> None:
    xa, xb = _series(seed=1), _series(seed=2, spike=900)
    wa, wb = _windows(xa), _windows(xb)
    one = OnlineSurprise(SPEC)
    sa = one.score_windows(wa, ["a"] * len(wa))
    sb = one.score_windows(wb, ["b"] * len(wb))
    # interleaved devices, odd batch sizes
    inter = OnlineSurprise(SPEC)
    w = np.empty((len(wa) + len(wb), 8, 1))
    w[0::2], w[1::2] = wa, wb
    ids = ["a", "b"] * len(wa)
    got = np.concatenate([inter.score_windows(w[i:i + 37], ids[i:i + 37]) for i in range(0, len(w), 37)])
    np.testing.assert_allclose(got[0::2], sa, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[1::2], sb, rtol=1e-9, atol=1e-9)


def test_context_distance_uses_only_earlier_non_overlapping_windows_of_the_ring() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    w = _windows(x).reshape(-1, 8)
    det = OnlineSurprise(SPEC, memory=50)
    st = det._state("d", 8)
    for j in range(len(w)):
        d = det._context(st, w[j])
        lo, hi = max(0, j - 50), j - 7  # last 50 windows kept, the 7 overlapping ones excluded
        if hi - lo < det.min_neighbours:
            assert d is None
            continue
        want = np.sqrt(((w[lo:hi] - w[j]) ** 2).sum(axis=1)).min()
        assert d == pytest.approx(want, rel=1e-12)


def test_z_tracker_matches_the_alert_policy_likelihood() -> None:
    rng = np.random.default_rng(4)
    raw = np.abs(rng.normal(size=300)) + (np.arange(300) == 250) * 6
    cfg = JobConfig(threshold_mode="likelihood", likelihood_history=100, likelihood_short=5,
                    likelihood_min_history=20, top_k=0)
    pol = AlertPolicy(cfg)
    st = pol.new_state()
    zt = _ZTracker(100, 5, 20)
    for i, r in enumerate(raw):
        lik = pol.on_score(st, "d", i, i + 1, float(r), {"name": "m", "version": "v"}).score
        z = zt.update(float(np.float32(r)))  # the policy keeps float32 history
        want = 0.5 * math.erfc(-z / math.sqrt(2.0)) if i >= 20 else 0.5
        assert lik == pytest.approx(want, abs=1e-5)


def test_replay_online_surprise_is_the_scorer_and_opens_at_the_spike() -> None:
    x = _series()
    frame = pd.DataFrame({"device_id": "d", "ts": np.arange(len(x), dtype=np.int64) * 300_000, "value": x})
    ds = type("DS", (), {"frame": frame, "sensors": ["value"], "name": "t"})()
    cfg = JobConfig(window=8, slide=1, threshold_mode="fixed", threshold=3.0, top_k=0)
    res = replay(ds, None, cfg, online="surprise", online_spec=SPEC)
    # the job keeps readings as float32 in its window buffers
    direct = OnlineSurprise(SPEC).score_windows(_windows(x.astype(np.float32)), ["d"] * (len(x) - 7))
    np.testing.assert_allclose(res.points["score"].to_numpy()[7:], direct, rtol=1e-9)
    opens = [int(pd.Timestamp(a.window_end).value // 1_000_000 // 300_000)
             for a in res.alerts if a.kind == "anomaly" and a.status == "open"]
    assert any(1200 <= r <= 1202 for r in opens)  # min_duration 2: the spike's row or the next


def test_log_likelihood_is_numentas_monotone_transform() -> None:
    lik = np.array([0.0, 0.5, 0.9, 0.9999, 1 - 1e-10, 1.0])
    out = log_likelihood(lik)
    np.testing.assert_allclose(out, np.log(1.0000000001 - lik) / np.log(1e-10))
    assert np.all(np.diff(out) > 0) and out[-1] == pytest.approx(1.0) and abs(out[0]) < 1e-9


def test_log_likelihood_leaves_the_nab_sweep_unchanged() -> None:
    # monotone → the same rows pass every threshold: the optimised NAB total is identical,
    # so it cannot fix likelihoods that saturate at exactly 1.0 (those stay tied).
    rng = np.random.default_rng(5)
    ts = np.arange(2000)
    lik = np.clip(rng.beta(0.3, 0.05, 2000), 0, 1)
    lik[rng.choice(2000, 40)] = 1.0
    wins = [(900, 1000), (1500, 1600)]
    a = sweep_thresholds([FileSweep.build("f", ts, lik, wins)], PROFILES["standard"]).best()[1]
    b = sweep_thresholds([FileSweep.build("f", ts, log_likelihood(lik), wins)], PROFILES["standard"]).best()[1]
    assert a == pytest.approx(b)


def test_online_surprise_on_one_nab_file(tmp_path) -> None:
    from eval_fixtures import require_dataset
    from training.evaluate import EvalConfig, run_evaluation

    require_dataset("nab/labels/combined_windows.json")
    res = run_evaluation("nab:realAdExchange", kind="online_surprise", cfg=EvalConfig(), work=tmp_path,
                         limit_files=1)
    run = res.results["_nab_runs"][0]
    assert not any(tmp_path.rglob("model.onnx")), "online mode trains no bundle"
    opens = np.isfinite(run.scores)
    # the NAB scorer gets the policy's alert opens, scored in sigmas (fixed threshold 3, min duration 2)
    assert 0 < opens.sum() < 0.02 * run.scores.size and (run.scores[opens] >= 3.0).all()
    assert -100.0 <= res.results["nab"]["corpus"]["standard"]["score"] <= 100.0
