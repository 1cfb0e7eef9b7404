"""DeviceProcessor: count/time windows, lateness, stream-level alerts, timers."""

from __future__ import annotations

import numpy as np
import pytest

from udfs.config import JobConfig
from udfs.device_state import Context, DeviceProcessor
from udfs.features import FeatureSpec
from udfs.schema import Reading, make_alert_id

SPEC = FeatureSpec(sensors=["a", "b"], window=4, slide=2, per_sensor=["mean"])
T0 = 1_700_000_000_000


def rd(t: int, a: float | None = 1.0, b: float | None = 2.0, dev: str = "d") -> Reading:
    vals = {}
    if a is not None:
        vals["a"] = a
    if b is not None:
        vals["b"] = b
    return Reading(dev, T0 + t, vals)


def feed(p: DeviceProcessor, readings):
    return [p.on_reading(r) for r in readings]


def test_count_windows_fire_every_slide_and_are_time_ordered():
    ctx = Context(JobConfig(stuck_after=100), SPEC)
    p = ctx.new("d")
    steps = feed(p, [rd(i * 1000, a=float(i), b=float(-i)) for i in range(9)])
    fired = [i for i, s in enumerate(steps) if s.windows]
    assert fired == [3, 5, 7]
    w = steps[7].windows[0]
    assert w.values[:, 0].tolist() == [4, 5, 6, 7] and w.start_ms == T0 + 4000 and w.end_ms == T0 + 7000
    assert w.n_readings == 4 and w.values.dtype == np.float32


def test_out_of_order_inserted_late_rejected_duplicate_merged():
    cfg = JobConfig(out_of_orderness_ms=1000, allowed_lateness_ms=1000, stuck_after=100)
    p = Context(cfg, SPEC).new("d")
    feed(p, [rd(0, 0.0), rd(1000, 1.0), rd(5000, 5.0)])
    s = p.on_reading(rd(3500, 3.5))  # 1.5 s behind max, within 2 s → inserted in order
    assert not s.late and s.windows and s.windows[0].values[:, 0].tolist() == [0, 1, 3.5, 5]
    s = p.on_reading(rd(2900, 2.9))  # 2.1 s behind max_ts 5000 → late
    assert s.late and "behind" in s.detail and p.late == 1
    # same timestamp: merged, does not count as a new reading for the slide
    s = p.on_reading(rd(5000, None, 50.0))
    assert not s.late and not s.windows
    assert not p.on_reading(rd(6000, 6.0)).windows
    s = p.on_reading(rd(7000, 7.0))
    assert s.windows and s.windows[0].values.tolist()[1] == [5.0, 50.0]


def test_windows_are_raw_nan_where_missing():
    """Imputation belongs to the batch scoring step (udfs.batch); windows carry the gaps."""
    cfg = JobConfig(imputation="linear", max_gap=1, stuck_after=100)
    p = Context(cfg, FeatureSpec(sensors=["a", "b"], window=4, slide=1)).new("d")
    steps = feed(p, [rd(0, 0.0), rd(1000, None), rd(2000, 2.0), rd(3000, 3.0)])
    w = steps[3].windows[0]
    assert w.values[0, 0] == 0 and np.isnan(w.values[1, 0]) and w.values[3, 0] == 3


def test_stream_alerts_out_of_range_stuck_and_missing_sensor():
    cfg = JobConfig(operating_limits={"a": (0.0, 10.0)}, stuck_after=3, max_gap=2)
    p = Context(cfg, SPEC).new("d")
    s = feed(p, [rd(0, 5.0, 1.0), rd(1000, 12.0, 2.0), rd(2000, 30.0, 3.0), rd(3000, 5.0, 4.0)])
    oor = [a for st in s for a in st.alerts if a.kind == "out_of_range"]
    assert [(a.status, a.sensor, a.severity) for a in oor] == [("open", "a", "warning"), ("closed", "a", "warning")]
    assert oor[0].alert_id == oor[1].alert_id == make_alert_id("d", T0 + 1000, "out_of_range", "-", "a")
    assert oor[1].closed_at is not None
    s = feed(p, [rd(4000 + i * 1000, 7.0, float(i)) for i in range(4)] + [rd(9000, 8.0, 9.0)])
    stuck = [a for st in s for a in st.alerts if a.kind == "sensor_stuck"]
    assert [(a.status, a.sensor) for a in stuck] == [("open", "a"), ("closed", "a")]
    s = feed(p, [rd(10_000 + i * 1000, float(i), None) for i in range(4)] + [rd(15_000, 1.5, 1.0)])
    miss = [a for st in s for a in st.alerts if a.kind == "stream_silent"]
    assert [(a.status, a.sensor) for a in miss] == [("open", "b"), ("closed", "b")]


def test_silence_timer_is_deterministic_and_closes():
    cfg = JobConfig(silent_after_ms=10_000, stuck_after=100)
    p = Context(cfg, SPEC).new("d")
    assert p.next_timer_ms() is None
    p.on_reading(rd(0))
    assert p.next_timer_ms() == T0 + 10_000
    assert p.on_timer(T0 + 9_999) == []
    a = p.on_timer(T0 + 25_000)  # fired late: id still from the deadline
    assert len(a) == 1 and a[0].kind == "stream_silent" and a[0].status == "open"
    assert a[0].alert_id == make_alert_id("d", T0 + 10_000, "stream_silent", "-")
    assert p.next_timer_ms() is None and p.on_timer(T0 + 99_000) == []
    s = p.on_reading(rd(30_000))
    assert [(x.kind, x.status, x.alert_id) for x in s.alerts] == [("stream_silent", "closed", a[0].alert_id)]
    assert p.next_timer_ms() == T0 + 40_000


def test_time_windows_resample_and_fire_on_device_watermark():
    cfg = JobConfig(window_mode="time", window_ms=4000, slide_ms=2000, out_of_orderness_ms=500,
                    allowed_lateness_ms=500, max_gap=1, stuck_after=100)
    spec = FeatureSpec(sensors=["a", "b"], window=4, slide=1)
    p = Context(cfg, spec).new("d")
    T = 1_000_000  # aligned to the 2 s slide
    out = []
    for i in range(20):  # 2 readings per second
        out.append(p.on_reading(Reading("d", T + i * 500, {"a": float(i), "b": 0.0})))
    wins = [w for s in out for w in s.windows]
    ends = [w.end_ms for w in wins]
    assert ends == sorted(ends) and all(e % 2000 == 0 for e in ends)
    full = [w for w in wins if w.start_ms >= T]
    assert full and full[0].values[:, 0].tolist() == [0.5, 2.5, 4.5, 6.5]  # bin means of 2 readings
    # a window fires only after the device watermark passed its end
    for s, i in zip(out, range(20)):
        for w in s.windows:
            assert T + i * 500 - 500 >= w.end_ms
    # a long silence does not fire a flood of empty windows
    s = p.on_reading(Reading("d", T + 60_000, {"a": 1.0, "b": 0.0}))
    assert len(s.windows) <= 2


def test_config_window_must_match_model():
    with pytest.raises(ValueError, match="readings"):
        Context(JobConfig(window=10), SPEC)
    with pytest.raises(ValueError):
        JobConfig(window_mode="time")


def test_silence_seen_in_data_gives_same_alert_as_timer():
    cfg = JobConfig(silent_after_ms=10_000, stuck_after=100)
    a, b = Context(cfg, SPEC).new("d"), Context(cfg, SPEC).new("d")
    for p in (a, b):
        p.on_reading(rd(0))
    via_timer = a.on_timer(T0 + 12_000) + a.on_reading(rd(20_000)).alerts
    via_data = b.on_reading(rd(20_000)).alerts  # timer never fired (watermark lagged)
    assert [(x.alert_id, x.status) for x in via_timer] == [(x.alert_id, x.status) for x in via_data]
    assert [x.status for x in via_data] == ["open", "closed"]
    assert b.on_timer(T0 + 25_000) == []  # the stale timer is a no-op
