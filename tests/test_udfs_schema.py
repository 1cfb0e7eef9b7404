"""Reading validation: every defect gets its reason; fuzzed bad messages are all rejected."""

from __future__ import annotations

import base64
import json
import random

import orjson
import pytest

from udfs.schema import (
    DEFAULT_LIMITS, REASONS, SENSORS, Alert, InvalidReading, ModelRef, SensorLimits, dlq_record,
    iso_ms, make_alert_id, parse_reading,
)

GOOD = {"device_id": "pump-07", "ts": "2026-11-23T14:00:00.120Z", "values": {"temperature": 71.2, "pressure": None}}
TS = 1795442400120


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def reason(raw, **kw) -> str:
    with pytest.raises(InvalidReading) as e:
        parse_reading(raw, DEFAULT_LIMITS, **kw)
    assert e.value.detail, "every rejection carries a detail"
    assert e.value.reason in REASONS
    return e.value.reason


@pytest.mark.parametrize("ts", ["2026-11-23T14:00:00.120Z", "2026-11-23T15:00:00.120+01:00",
                                "2026-11-23T14:00:00.120", TS, float(TS), "2026-11-23T14:00:00.120000Z"])
def test_time_forms_agree(ts):
    r = parse_reading(enc({**GOOD, "ts": ts}), DEFAULT_LIMITS)
    assert r.ts_ms == TS


def test_good_reading_values_null_and_absent():
    r = parse_reading(enc(GOOD), DEFAULT_LIMITS)
    assert r.device_id == "pump-07" and r.values == {"temperature": 71.2, "pressure": None}
    r = parse_reading(enc({**GOOD, "values": {}}))
    assert r.values == {}
    r = parse_reading(enc({**GOOD, "values": {"rpm": 1500}}))  # ints become floats
    assert r.values == {"rpm": 1500.0} and type(r.values["rpm"]) is float


@pytest.mark.parametrize("raw,expected", [
    (b"\xff\xfe{}", "not_utf8"),
    (b'{"device_id": "p\xe9", "ts": 1, "values": {}}', "not_utf8"),
    (b"{oops", "bad_json"),
    (b"", "bad_json"),
    (b'{"device_id": "p", "ts": 1, "values": {"a": 1}} trailing', "bad_json"),
    (b"[1, 2]", "not_object"),
    (b'"text"', "not_object"),
    (b"null", "not_object"),
    (b'{"ts": 1, "values": {}}', "missing_device"),
    (b'{"device_id": null, "ts": 1, "values": {}}', "missing_device"),
    (b'{"device_id": "", "ts": 1, "values": {}}', "bad_device"),
    (b'{"device_id": "   ", "ts": 1, "values": {}}', "bad_device"),
    (b'{"device_id": 7, "ts": 1, "values": {}}', "bad_device"),
    (b'{"device_id": "a\\nb", "ts": 1, "values": {}}', "bad_device"),
    (b'{"device_id": "p", "values": {}}', "missing_ts"),
    (b'{"device_id": "p", "ts": "yesterday", "values": {}}', "bad_ts"),
    (b'{"device_id": "p", "ts": true, "values": {}}', "bad_ts"),
    (b'{"device_id": "p", "ts": -5, "values": {}}', "bad_ts"),
    (b'{"device_id": "p", "ts": 1e30, "values": {}}', "bad_ts"),
    (b'{"device_id": "p", "ts": [1], "values": {}}', "bad_ts"),
    (b'{"device_id": "p", "ts": 1}', "bad_values"),
    (b'{"device_id": "p", "ts": 1, "values": [1, 2]}', "bad_values"),
    (b'{"device_id": "p", "ts": 1, "values": {"": 1}}', "bad_values"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": "1500"}}', "non_numeric"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": true}}', "non_numeric"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": [1]}}', "non_numeric"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": NaN}}', "non_finite"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": Infinity}}', "non_finite"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": -Infinity}}', "non_finite"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": 1e400}}', "bad_json"),
    (b'{"device_id": "p", "ts": 1, "values": {"rpm": -3}}', "out_of_range"),
    (b'{"device_id": "p", "ts": 1, "values": {"temperature": 5000}}', "out_of_range"),
])
def test_each_defect_has_its_reason(raw, expected):
    assert reason(raw) == expected


def test_oversized_is_configurable():
    big = enc({**GOOD, "pad": "x" * 70_000})
    assert reason(big) == "oversized"
    assert parse_reading(big, DEFAULT_LIMITS, max_bytes=100_000).device_id == "pump-07"
    assert reason(enc(GOOD), max_bytes=10) == "oversized"


def test_min_ts_guards_epoch_seconds():
    assert reason(enc({**GOOD, "ts": 1_795_442_400}), min_ts_ms=946_684_800_000) == "bad_ts"


def test_python_dict_nan_is_caught_too():
    # callers may hand values that did not come through JSON (e.g. str input)
    assert reason('{"device_id": "p", "ts": 1, "values": {"rpm": NaN}}') == "non_finite"


def test_limits_none_checks_no_range_and_custom_limits():
    raw = b'{"device_id": "p", "ts": 1, "values": {"temperature": 5000}}'
    assert parse_reading(raw).values["temperature"] == 5000.0
    with pytest.raises(InvalidReading):
        parse_reading(raw, SensorLimits({"temperature": (0, 10)}))
    with pytest.raises(ValueError):
        SensorLimits({"x": (2, 1)})
    assert set(SENSORS) == set(DEFAULT_LIMITS.ranges)


# --------------------------------------------------------------------------- fuzz
def _good(rng: random.Random) -> dict:
    ts = rng.choice([TS + rng.randrange(10**6), iso_ms(TS + rng.randrange(10**6))])
    vals = {s: rng.choice([None, round(rng.uniform(1, 90), 3), rng.randrange(1, 90)])
            for s in rng.sample(SENSORS, rng.randrange(0, 9))}
    return {"device_id": f"pump-{rng.randrange(1000):03d}", "ts": ts, "values": vals}


BAD_SCALARS = [None, True, False, "", "x", "1.5", [], [1], {}, {"a": 1}, 1e400]


def _mutate(rng: random.Random, msg: dict) -> bytes:
    """One random defect per message, at byte or structure level."""
    kind = rng.randrange(12)
    m = json.loads(json.dumps(msg))
    if kind == 0:  # drop or break the device
        if rng.random() < 0.5:
            m.pop("device_id")
        else:
            m["device_id"] = rng.choice([None, 1, 2.5, True, [], {}, "", " ", "\t", "a\x00b", "x" * 300])
    elif kind == 1:  # drop or break the time
        if rng.random() < 0.5:
            m.pop("ts")
        else:
            m["ts"] = rng.choice([None, True, "", "2026-13-40T99:00:00Z", "now", "12:00", [TS], {"t": 1},
                                  -1, 10**17, "1e12", "2026/11/23 14:00"])
    elif kind == 2:  # values not an object
        if rng.random() < 0.3:
            m.pop("values")
        else:
            m["values"] = rng.choice([None, [], [1.0], "x", 3, True])
    elif kind == 3:  # one value of a wrong type
        m["values"][rng.choice(SENSORS)] = rng.choice([True, False, "12", [], {}, [1.0], {"v": 1}])
    elif kind == 4:  # non-finite token
        s = rng.choice(SENSORS)
        m["values"][s] = 1.0
        raw = json.dumps(m).replace(f'"{s}": 1.0', f'"{s}": {rng.choice(["NaN", "Infinity", "-Infinity"])}')
        return raw.encode()
    elif kind == 5:  # physically impossible value
        s = rng.choice(SENSORS)
        lo, hi = DEFAULT_LIMITS.ranges[s]
        m["values"][s] = rng.choice([lo - 1 - rng.random() * 1e3, hi + 1 + rng.random() * 1e6])
    elif kind == 6:  # truncated / garbled JSON
        raw = json.dumps(m).encode()
        cut = rng.randrange(0, len(raw) - 1)
        return raw[:cut] if rng.random() < 0.5 else raw[:cut] + b"\x00,]" + raw[cut + 1:]
    elif kind == 7:  # invalid UTF-8 inside a string
        raw = json.dumps(m).encode()
        i = raw.index(b'"device_id": "') + 14
        return raw[:i] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE, 0xED])]) + raw[i:]
    elif kind == 8:  # not an object at top level
        return json.dumps(rng.choice([[m], "s", 1, None, True, [1, 2]])).encode()
    elif kind == 9:  # oversized
        m["junk"] = "y" * (64 * 1024 + rng.randrange(100))
    elif kind == 10:  # empty sensor name
        m["values"][""] = 1.0
    else:  # bare / random bytes
        return rng.choice([b"", b" ", b"{", b"}", b"nul", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))])
    return json.dumps(m).encode()


def test_fuzz_every_bad_message_rejected_with_reason_good_ones_accepted():
    rng = random.Random(1234)
    counts: dict[str, int] = {}
    n_bad = n_good = 0
    for _ in range(5000):
        good = _good(rng)
        raw_good = orjson.dumps(good)
        r = parse_reading(raw_good, DEFAULT_LIMITS)
        assert r.device_id == good["device_id"]
        assert {k: (None if v is None else float(v)) for k, v in good["values"].items()} == r.values
        n_good += 1
        bad = _mutate(rng, good)
        with pytest.raises(InvalidReading) as e:
            parse_reading(bad, DEFAULT_LIMITS)
        assert e.value.reason in REASONS and e.value.reason != "late", bad
        assert isinstance(e.value.detail, str) and e.value.detail
        counts[e.value.reason] = counts.get(e.value.reason, 0) + 1
        n_bad += 1
        d = dlq_record(e.value.reason, e.value.detail, bad, "sensor-readings", 0, n_bad)
        raw_back = base64.b64decode(d["raw"]) if d["raw_encoding"] == "base64" else d["raw"].encode()
        assert raw_back == bad  # nothing lost
        json.dumps(d)  # serialisable
    assert n_good == n_bad == 5000
    # the fuzzer reaches every parse-time reason
    assert set(counts) == set(REASONS) - {"late"}, counts


def test_dlq_record_binary_and_unknown_reason():
    d = dlq_record("not_utf8", "x", b"\xff\x00", "sensor-readings", 3, 9, 1000)
    assert d["raw_encoding"] == "base64" and base64.b64decode(d["raw"]) == b"\xff\x00"
    assert d["partition"] == 3 and d["received_at"] == "1970-01-01T00:00:01.000Z"
    with pytest.raises(ValueError):
        dlq_record("nope", "", b"")


def test_alert_id_deterministic_and_distinct():
    a = make_alert_id("p", 1000, "anomaly", "v1")
    assert a == make_alert_id("p", 1000, "anomaly", "v1")
    others = {make_alert_id("p", 1001, "anomaly", "v1"), make_alert_id("q", 1000, "anomaly", "v1"),
              make_alert_id("p", 1000, "sensor_stuck", "v1"), make_alert_id("p", 1000, "anomaly", "v2"),
              make_alert_id("p", 1000, "anomaly", "v1", sensor="rpm")}
    assert a not in others and len(others) == 5


def test_alert_json_roundtrip_with_close():
    a = Alert(alert_id="i", device_id="d", kind="anomaly", severity="critical", status="closed",
              window_start=iso_ms(0), window_end=iso_ms(1000), detected_at=iso_ms(2000), closed_at=iso_ms(2000),
              score=1.0, threshold=0.5, model=ModelRef(name="m", version="v"),
              top_features=[{"feature": "a.std", "contribution": 1.0}])
    d = orjson.loads(a.to_json())
    assert d["status"] == "closed" and d["event_id"] == "i:closed" and d["closed_at"].endswith("Z")
    assert Alert.model_validate(d) == a
