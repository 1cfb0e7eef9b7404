"""The JVM operators (``jobs/jvm``) implement exactly the semantics ``udfs/`` defines.

Hypothesis generates inputs; each goes through the Python reference and through the Java code
(``vigil.flink.tools.Reference``, the operators' logic without Flink, states serialised and
restored between every two operations as Flink's state backends do), and every output must
agree:

* parse/validate: the DLQ reason of every message (valid JSON readings with every kind of
  defect, byte-level mutations of them, arbitrary bytes), or the parsed reading;
* the reading time grammar; the device-id rule over every Unicode code point;
* per-device state: lateness, out-of-order and duplicate readings, windows (count and time
  mode, values to the bit, NaN where missing), stream alerts (out_of_range, sensor_stuck, a
  missing sensor, silences through timers and through gaps), the silence deadline;
* the alert policy: every decision and alert event, in the fixed, manifest and likelihood modes.

``tests/test_job_equals_replay.py`` then runs the assembled job on a MiniCluster against replay.
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jvm_fixtures import JvmReference
from udfs import metrics_names
from udfs.alerts import AlertPolicy
from udfs.bundle import Thresholds
from udfs.config import JobConfig
from udfs.device_state import Context
from udfs.features import FeatureSpec
from udfs.schema import (DEFAULT_MAX_BYTES, MIN_TS_MS, REASONS, InvalidReading, Reading, SensorLimits,
                         parse_iso_ms, parse_reading, valid_device_id)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def jvm():
    ref = JvmReference()
    yield ref
    ref.close()


@pytest.fixture(scope="module")
def unicode_diff(jvm) -> set[int]:
    """Code points whose single-character device id the two runtimes judge differently."""
    bits = jvm.call("device_ids", **{"from": 0, "to": 0x110000})
    return {cp for cp in range(0x110000) if (bits[cp] == "1") != valid_device_id(chr(cp))}


# ------------------------------------------------------------------ names and constants
def test_reasons_and_metric_names_are_the_same_strings():
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "jobs" / "jvm" / "src" / "main" / "java" / "vigil" / "flink"
    reasons = (src / "schema" / "Reasons.java").read_text()
    for r in REASONS:
        assert f'"{r}"' in reasons, r
    metrics = (src / "job" / "MetricNames.java").read_text()
    java_names = dict(__import__("re").findall(r'public static final String (\w+) = "([^"]+)"', metrics))
    py_names = {k: v for k, v in vars(metrics_names).items() if k.isupper() and isinstance(v, str)}
    assert set(java_names) <= set(py_names), set(java_names) - set(py_names)
    assert all(java_names[k] == py_names[k] for k in java_names)


def test_device_id_rule_agrees_on_every_code_point(unicode_diff):
    """Both follow the same Unicode categories; they may differ only on code points that one
    runtime's Unicode version (Java 17: 13.0, Python 3.11: 14.0) assigns to a category the
    rule refuses while the other does not know them yet."""
    import unicodedata

    assert len(unicode_diff) <= 8, sorted(map(hex, unicode_diff))
    for cp in unicode_diff:
        assert unicodedata.category(chr(cp)) in ("Cf", "Zs", "Co"), hex(cp)


# ------------------------------------------------------------------ the time grammar
_digits = st.text(alphabet="0123456789", min_size=1, max_size=3)
_iso_piece = st.one_of(
    st.sampled_from(["2026-11-23", "2024-02-29", "2023-02-29", "0001-01-01", "9999-12-31", "0000-01-01",
                     "2026-13-01", "2026-00-10", "2026-11-31", "2026-1-05", "20261123"]),
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999), st.integers(0, 13),
              st.integers(0, 32)),
)
_time_piece = st.one_of(
    st.just(""),
    st.builds(lambda sep, h, m: f"{sep}{h:02d}:{m:02d}", st.sampled_from("Tt _"), st.integers(0, 25),
              st.integers(0, 61)),
    st.builds(lambda sep, h, m, s: f"{sep}{h:02d}:{m:02d}:{s:02d}", st.sampled_from("Tt "),
              st.integers(0, 24), st.integers(0, 60), st.integers(0, 61)),
    st.builds(lambda sep, h, m, s, p, f: f"{sep}{h:02d}:{m:02d}:{s:02d}{p}{f}", st.sampled_from("Tt "),
              st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.sampled_from(".,:"),
              st.text(alphabet="0123456789", min_size=0, max_size=11)),
)
_offset = st.one_of(st.just(""), st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "+0530", "+05", "-23:59",
                                                   "+24:00", "+05:60", "+5", "+05:3", "UTC", " Z", "+05:30:00"]),
                    st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 25),
                              st.integers(0, 61)))
ISO = st.one_of(st.builds(lambda a, b, c: a + b + c, _iso_piece, _time_piece, _offset),
                st.text(max_size=30), st.text(alphabet="0123456789-:T.Z+ ١", max_size=30))


@SETTINGS
@given(st.lists(ISO, min_size=1, max_size=60))
def test_time_grammar(jvm, values):
    assert jvm.call("iso", values=values) == [parse_iso_ms(v) for v in values]


# ------------------------------------------------------------------ parse / validate
SPEC_SENSORS = ["s0", "s1", "s2"]
LIMITS = {"s0": (-1000.0, 1000.0), "s1": (0.0, 5.0)}

_names = st.one_of(st.sampled_from(SPEC_SENSORS + ["other", "", "s0 ", "ß"]), st.text(max_size=6))
_numbers = st.one_of(
    st.integers(-10, 10), st.integers(-(1 << 70), 1 << 70), st.sampled_from([1 << 63, (1 << 64) - 1, 1 << 64, -(1 << 63),
                                                                            -(1 << 63) - 1, 10 ** 400]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1.5, 2.5, -0.0, 1e308, 5e-324, 1e-400]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=8))
_json_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                              st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                            max_leaves=6)
_device = st.one_of(st.sampled_from(["pump-07", "d", " ", "", "a b", "x" * 256, "x" * 257, "dev\u200b", "\u00a0",
                                     "pümp", "😀", "a\x7f"]),
                    st.text(max_size=12), _scalars)
_ts = st.one_of(st.integers(-5, 5_000_000_000_000), st.floats(allow_nan=True, allow_infinity=True),
                st.sampled_from([1795442400120.5, 1795442400121.5, 4_102_444_799_999, 4_102_444_800_000,
                                 -1, 2 ** 64, "2026-11-23T14:00:00.120Z", "", "x" * 65, True, None, [1]]),
                ISO, _json_values)
_values = st.one_of(st.dictionaries(_names, st.one_of(_numbers, st.none(), st.sampled_from([1.0, 3.0, 1e6, -1e6, 6.0]),
                                                      _json_values), max_size=6),
                    _json_values)


_good_device = st.text(alphabet=st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=20)
_good_ts = st.one_of(st.integers(1_700_000_000_000, 1_800_000_000_000),
                     st.floats(1_700_000_000_000, 1_800_000_000_000).map(lambda x: round(x * 2) / 2),
                     st.sampled_from(["2026-11-23T14:00:00.120Z", "2026-11-23 15:00:00,1205+01:00", "2026-11-23"]))
_good_values = st.dictionaries(st.sampled_from(SPEC_SENSORS + ["other"]),
                               st.one_of(st.none(), st.floats(-2, 6, allow_nan=False), st.integers(-3, 7),
                                         st.sampled_from(["hot", True, [1.0]])), max_size=4)


@st.composite
def _reading_json(draw) -> bytes:
    """A JSON object shaped like a reading; each field is usually valid and sometimes anything."""
    msg: dict = {}
    for key, good, anything in (("device_id", _good_device, _device), ("ts", _good_ts, _ts),
                                ("values", _good_values, _values)):
        if draw(st.integers(0, 19)) > 0:
            msg[key] = draw(good) if draw(st.integers(0, 3)) > 0 else draw(anything)
    if draw(st.integers(0, 3)) == 0:
        msg[draw(st.text(max_size=5))] = draw(_json_values)
    text = json.dumps(msg, allow_nan=True, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 5)) == 0:  # a repeated key: the last value wins, the first position stays
        text = text[:-1] + (", " if len(msg) else "") + json.dumps(draw(st.sampled_from(["device_id", "values", "ts"]))) \
            + ": " + json.dumps(draw(_json_values), allow_nan=True) + "}"
    return text.encode("utf-8", "surrogatepass")


_noise = st.one_of(st.sampled_from(list("{}[],:\" \t\n\\0123456789-+.eE") + ["NaN", "Infinity", "-Infinity", "+Infinity",
                                                                             "INF", "null", "true", "\x00", "\ufeff",
                                                                             "\\ud800", "\\udc00", "\\u0041", "\\x"]),
                   st.text(max_size=3))


@st.composite
def _mutated(draw) -> bytes:
    text = draw(_reading_json()).decode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 3))
        if op == 0:
            text = text[:i] + draw(_noise) + text[i:]
        elif op == 1:
            text = text[:i] + text[i + draw(st.integers(1, 4)):]
        elif op == 2:
            text = text[:i]
        else:
            text = text[:i] + draw(_noise) + text[i + 1:]
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff", b"\xc0\x80", b" "])) + raw
    return raw


# decimal literals with many digits, near-halfway cases and extremes: both parsers must round alike
_number_text = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["9007199254740993", "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308",
                     "1.7976931348623159e308", "0.30000000000000004", "123456789012345678901234567890"]))
_literal_reading = st.builds(
    lambda v: b'{"device_id": "d", "ts": 1795442400000, "values": {"s2": ' + v.encode() + b', "other": ' + v.encode() + b"}}",
    _number_text)

MESSAGES = st.one_of(_reading_json(), _reading_json(), _mutated(), st.binary(max_size=40), _literal_reading,
                     st.builds(lambda n: (b"[" * n) + (b"]" * n), st.sampled_from([1, 900, 1024, 1025, 3000])),
                     st.builds(lambda d: b'{"device_id": "d", "ts": 1, "values": {"s0": ' + d.encode() + b"}}",
                               st.text(alphabet="0123456789", min_size=300, max_size=400)))


def _python_parse(raw: bytes, max_bytes: int) -> dict:
    try:
        r = parse_reading(raw, SensorLimits(LIMITS), max_bytes=max_bytes, min_ts_ms=MIN_TS_MS)
    except InvalidReading as e:
        return {"reason": e.reason}
    return {"device_id": r.device_id, "ts": r.ts_ms, "values": [r.values.get(s) for s in SPEC_SENSORS],
            "all_values": r.values}


@SETTINGS
@given(st.lists(MESSAGES, min_size=1, max_size=40), st.sampled_from([DEFAULT_MAX_BYTES, 120]))
def test_parse_gives_the_same_reason_or_reading(jvm, unicode_diff, messages, max_bytes):
    got = jvm.call("parse", limits={k: list(v) for k, v in LIMITS.items()}, max_bytes=max_bytes,
                   min_ts_ms=MIN_TS_MS, sensors=SPEC_SENSORS,
                   raw=[base64.b64encode(m).decode() for m in messages])
    for raw, j in zip(messages, got):
        py = _python_parse(raw, max_bytes)
        if "reason" in py or "reason" in j:
            if py.get("reason") == "bad_device" or j.get("reason") == "bad_device":
                dev = json.loads(raw).get("device_id") if py.get("reason") != "bad_json" else None
                if isinstance(dev, str) and any(ord(c) in unicode_diff for c in dev):
                    continue  # a code point the two Unicode versions categorise differently
            assert j.get("reason") == py.get("reason"), (raw, j, py)
            continue
        assert (j["device_id"], j["ts"]) == (py["device_id"], py["ts"]), raw
        assert j["values"] == py["values"], raw
        assert json.loads(j["values_json"]) == py["all_values"], raw


# ------------------------------------------------------------------ per-device state
@st.composite
def _device_case(draw):
    S = draw(st.integers(1, 3))
    sensors = ["a", "b", "c"][:S]
    T = draw(st.integers(2, 6))
    time_mode = draw(st.integers(0, 3)) == 0
    kw: dict = dict(
        max_gap=draw(st.integers(0, 3)), stuck_after=draw(st.integers(2, 5)),
        stuck_tolerance=draw(st.sampled_from([0.0, 0.0, 0.5])),
        silent_after_ms=draw(st.sampled_from([2500, 5000, 20_000])),
        out_of_orderness_ms=draw(st.sampled_from([0, 1000, 3000])),
        allowed_lateness_ms=draw(st.sampled_from([0, 1500, 4000])),
        operating_limits={s: (lo, lo + w) for s in sensors if draw(st.booleans())
                          for lo, w in [(draw(st.sampled_from([-1.0, 0.0, 2.0])), draw(st.sampled_from([0.0, 1.0, 5.0])))]},
    )
    if time_mode:
        kw.update(window_mode="time", window_ms=draw(st.sampled_from([2000, 3000, 8000])),
                  slide_ms=draw(st.sampled_from([500, 1000, 3000])))
    cfg = JobConfig(**kw)
    spec = FeatureSpec(sensors=sensors, window=T, slide=draw(st.integers(1, 4)), per_sensor=["mean"])
    devices = draw(st.lists(st.sampled_from(["d1", "d2", "dévice-3"]), min_size=1, max_size=3, unique=True))
    t0 = 1_795_442_400_000
    clock = {d: t0 for d in devices}
    ops = []
    for _ in range(draw(st.integers(5, 90))):
        dev = draw(st.sampled_from(devices))
        kind = draw(st.integers(0, 19))
        if kind == 0:  # a timer, somewhere around the device's clock
            ops.append(["t", dev, clock[dev] + draw(st.integers(-3000, 40_000))])
            continue
        step = draw(st.sampled_from([1000, 1000, 1000, 0, 500, 1700, 9000, 30_000]))
        jitter = draw(st.sampled_from([0, 0, 0, -800, -2500, -6000]))
        clock[dev] += step
        ts = clock[dev] + jitter
        vals = [draw(st.one_of(st.none(), st.sampled_from([1.0, 1.0, 0.0, 2.5, -3.0, 7.0]),
                                st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 2)))) for _ in sensors]
        ops.append(["r", dev, ts, vals])
    return cfg, spec, ops


def _alert_view(a: dict) -> dict:
    """An alert message without what legitimately differs: the detection wall clock and the
    human detail text."""
    return {k: v for k, v in a.items() if k not in ("detected_at", "detail")}


def _window_values(w_vals: list, T: int, S: int) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in w_vals], np.float32).reshape(T, S)


@SETTINGS
@given(_device_case())
def test_device_state_gives_the_same_windows_alerts_and_timers(jvm, case):
    cfg, spec, ops = case
    ctx = Context(cfg, spec)
    settings_ = ctx.jvm_settings()
    settings_["op_lo"] = [None if math.isinf(v) else v for v in settings_["op_lo"]]
    settings_["op_hi"] = [None if math.isinf(v) else v for v in settings_["op_hi"]]
    got = iter(jvm.call("device", settings=settings_, ops=ops))
    procs: dict = {}
    for op in ops:
        if op[0] == "t":
            if op[1] not in procs:
                continue
            p = procs[op[1]]
            alerts, windows, late = p.on_timer(op[2]), [], False
        else:
            p = procs.setdefault(op[1], ctx.new(op[1]))
            vals = {s: v for s, v in zip(spec.sensors, op[3]) if v is not None or op[2] % 2}
            step = p.on_reading(Reading(op[1], op[2], vals))
            alerts, windows, late = step.alerts, step.windows, step.late
        j = next(got)
        assert j["late"] == late, op
        assert [_alert_view(a) for a in j["alerts"]] == [_alert_view(json.loads(a.to_json())) for a in alerts], op
        assert len(j["windows"]) == len(windows), op
        for jw, w in zip(j["windows"], windows):
            assert (jw["start"], jw["end"], jw["n"]) == (w.start_ms, w.end_ms, w.n_readings), op
            np.testing.assert_array_equal(_window_values(jw["values"], ctx.T, ctx.S), w.values)
        assert j["next_timer"] == p.next_timer_ms(), op
    assert next(got, None) is None


# ------------------------------------------------------------------ alert policy
@st.composite
def _alert_case(draw):
    mode = draw(st.sampled_from(["fixed", "manifest", "likelihood"]))
    kw: dict = dict(threshold_mode=mode, threshold=draw(st.sampled_from([1.0, -0.2, 0.0, None])),
                    hysteresis=draw(st.sampled_from([0.5, 0.8, 1.0])), min_duration=draw(st.integers(1, 3)),
                    close_after=draw(st.integers(1, 3)), cooldown_ms=draw(st.sampled_from([0, 2000, 5000])),
                    critical_margin=draw(st.sampled_from([0.0, 0.5])),
                    likelihood_history=draw(st.integers(10, 30)), likelihood_short=draw(st.integers(1, 5)),
                    likelihood_min_history=draw(st.integers(2, 10)),
                    likelihood_threshold=draw(st.sampled_from([0.9, 0.99])))
    if mode == "fixed" and kw["threshold"] is None:
        kw["threshold"] = 1.0
    thr = Thresholds.model_validate({"global": draw(st.sampled_from([1.0, 0.3, None])),
                                     "per_device": {"d1": 0.5}}) if mode == "manifest" else None
    if mode == "manifest" and thr.global_ is None and kw["threshold"] is None:
        kw["threshold"] = 2.0
    devices = ["d1", "d2"]
    scores = []
    end = {d: 1_000_000 for d in devices}
    for _ in range(draw(st.integers(1, 80))):
        dev = draw(st.sampled_from(devices))
        end[dev] += 1000
        s = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 0.3, -0.2, 5.0]),
                           st.floats(-3, 3, allow_nan=False),
                           st.sampled_from([math.inf, math.nan])))
        top = draw(st.sampled_from([None, [{"feature": "a.mean", "contribution": 0.75}]]))
        scores.append([dev, end[dev] - 3000, end[dev], s, top, draw(st.sampled_from([0.0, 0.125]))])
    return JobConfig(**kw), thr, scores


def _num(x) -> float:
    return float(x) if not isinstance(x, str) else float(x.replace("Infinity", "inf"))


@SETTINGS
@given(_alert_case())
def test_alert_policy_gives_the_same_decisions_and_alerts(jvm, case):
    cfg, thr, scores = case
    policy = AlertPolicy(cfg, thr)
    model = {"name": "m", "version": "v1"}
    got = jvm.call("alerts", settings=policy.jvm_settings(), model=model,
                   scores=[[d, a, b, None if math.isnan(s) else s, None if t is None else json.dumps(t), f]
                           for d, a, b, s, t, f in scores])
    states: dict = {}
    for (dev, start, end, s, top, frac), j in zip(scores, got):
        st_ = states.setdefault(dev, policy.new_state())
        d = policy.on_score(st_, dev, start, end, s, model, top, frac)
        assert math.isclose(_num(j["score"]), d.score, rel_tol=1e-9, abs_tol=1e-12) or \
            (math.isinf(d.score) and math.isinf(_num(j["score"]))), (j, d)
        assert (_num(j["threshold"]), j["open"]) == (d.threshold, d.is_open)
        py = [_alert_view(json.loads(a.to_json())) for a in d.alerts]  # what goes on the wire
        jv = [] if j["alert"] is None else [_alert_view(j["alert"])]
        if py and jv and py[0]["score"] is not None:
            assert math.isclose(jv[0].pop("score"), py[0].pop("score"), rel_tol=1e-9)
        assert jv == py, (dev, end, s)

