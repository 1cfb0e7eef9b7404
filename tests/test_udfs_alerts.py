"""AlertPolicy: open/close, hysteresis, min duration, cooldown, severity, likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from udfs.alerts import AlertPolicy
from udfs.bundle import Thresholds
from udfs.config import JobConfig
from udfs.schema import make_alert_id

M1 = {"name": "m", "version": "v1"}


def run(policy: AlertPolicy, scores, dev="d", st=None, model=M1, step=1000):
    st = st or policy.new_state()
    out = []
    for i, s in enumerate(scores):
        out.append(policy.on_score(st, dev, i * step, i * step + step, s, model,
                                   [{"feature": "a.std", "contribution": 1.0}], 0.1))
    return out, st


def events(decisions):
    return [(i, a.status) for i, d in enumerate(decisions) for a in d.alerts]


def fixed(**kw) -> AlertPolicy:
    base = dict(threshold_mode="fixed", threshold=1.0, min_duration=1, close_after=1, cooldown_ms=0, hysteresis=0.8)
    base.update(kw)
    return AlertPolicy(JobConfig(**base))


def test_one_alert_per_episode_not_per_window():
    out, _ = run(fixed(), [0, 2, 2, 2, 2, 0, 0])
    assert events(out) == [(1, "open"), (5, "closed")]
    a_open, a_close = out[1].alerts[0], out[5].alerts[0]
    assert a_open.alert_id == a_close.alert_id == make_alert_id("d", 2000, "anomaly", "v1")
    assert a_open.top_features[0].feature == "a.std" and a_open.imputed_fraction == 0.1
    assert a_close.closed_at == "1970-01-01T00:00:06.000Z" and a_close.score == 2.0  # peak


def test_hysteresis_keeps_open_between_close_level_and_threshold():
    out, _ = run(fixed(hysteresis=0.8), [2, 0.9, 0.85, 0.81, 0.79])  # close level 0.8
    assert events(out) == [(0, "open"), (4, "closed")]


def test_min_duration_and_close_after():
    out, _ = run(fixed(min_duration=3, close_after=2), [2, 2, 0, 2, 2, 2, 0, 2, 0, 0])
    assert events(out) == [(5, "open"), (9, "closed")]
    assert out[5].alerts[0].window_start == "1970-01-01T00:00:03.000Z"  # first window of the run


def test_cooldown_blocks_reopen():
    out, _ = run(fixed(cooldown_ms=3000), [2, 0, 2, 2, 2, 2])
    assert events(out) == [(0, "open"), (1, "closed"), (4, "open")]


def test_severity_by_margin():
    out, _ = run(fixed(critical_margin=0.5), [1.2, 0, 1.6])
    assert [a.severity for d in out for a in d.alerts if a.status == "open"] == ["warning", "critical"]


def test_manifest_thresholds_per_device_and_missing():
    th = Thresholds.model_validate({"global": 1.0, "per_device": {"special": 5.0}})
    pol = AlertPolicy(JobConfig(min_duration=1, close_after=1), th)
    assert events(run(pol, [2.0], dev="special")[0]) == []
    assert events(run(pol, [2.0], dev="other")[0]) == [(0, "open")]
    with pytest.raises(ValueError, match="no threshold"):
        AlertPolicy(JobConfig(), Thresholds()).threshold_for("x")


def test_id_depends_on_opening_window_and_model_only():
    a, _ = run(fixed(), [0, 2, 2, 0])
    b, _ = run(fixed(), [0, 2, 2, 2, 2, 2, 0])  # longer episode, same opening window
    assert a[1].alerts[0].alert_id == b[1].alerts[0].alert_id
    c, _ = run(fixed(), [0, 2], model={"name": "m", "version": "v2"})
    assert c[1].alerts[0].alert_id != a[1].alerts[0].alert_id


def test_close_uses_opening_model_after_a_swap():
    pol = fixed()
    st = pol.new_state()
    d1 = pol.on_score(st, "d", 0, 1000, 2.0, M1)
    d2 = pol.on_score(st, "d", 1000, 2000, 0.0, {"name": "m", "version": "v2"})
    assert d2.alerts[0].alert_id == d1.alerts[0].alert_id and d2.alerts[0].model.version == "v1"


def test_likelihood_mode_calibrates_per_device_scale():
    cfg = JobConfig(threshold_mode="likelihood", likelihood_history=200, likelihood_min_history=50,
                    likelihood_short=3, likelihood_threshold=0.999, min_duration=1, close_after=3)
    pol = AlertPolicy(cfg)
    rng = np.random.default_rng(0)
    for scale in (1.0, 1000.0):  # same behaviour whatever the raw score scale of the device
        s = list(scale * (5 + rng.normal(size=300)))
        s[250:255] = [scale * 20] * 5
        out, _ = run(pol, s)
        opens = [i for i, st in events(out) if st == "open"]
        assert opens and all(250 <= i < 256 for i in opens), opens
        assert all(0 <= d.score <= 1 for d in out) and out[10].score == 0.5  # warm-up


def test_nan_score_counts_as_anomalous():
    out, _ = run(fixed(), [float("nan")])
    assert events(out) == [(0, "open")]
