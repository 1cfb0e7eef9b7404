"""Simulator → Kafka messages: DESIGN's JSON, keys, malformed messages, sharding (no broker needed).

Messages are checked with the job's real parser (``udfs.schema.parse_reading``), so a reading
the simulator calls valid is one the job accepts, and a malformed one lands in the DLQ with
the reason the simulator meant.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from training.sim_kafka import MALFORMED_KINDS, encode_reading, iter_batches, iter_messages
from training.simulator import SENSORS, SimConfig, Simulation, iso_ms, simulate
from udfs.schema import DEFAULT_LIMITS, InvalidReading, parse_reading

START = 1_795_442_400_000


def _cfg(**kw) -> SimConfig:
    base = dict(devices=6, rate=2.0, duration_s=900, seed=3, start_ms=START, anomaly_rate=0.1, dropout_rate=0.02)
    base.update(kw)
    return SimConfig(**base)


@pytest.mark.parametrize("ts_format", ["iso", "epoch_ms"])
def test_vectorised_encoding_equals_the_reference(ts_format) -> None:
    cfg = _cfg()
    sim = Simulation(cfg)
    fast = [v for _, _, values, _ in iter_batches(sim, ts_format) for v in values]
    ref = [encode_reading(p["device_id"], p["ts"], p["values"]) for p, _, _ in simulate(cfg, ts_format=ts_format)]
    assert len(fast) == len(ref) > 10_000
    assert [orjson.loads(x) for x in fast] == [orjson.loads(x) for x in ref]
    assert any(b":null" in x for x in fast)


def test_every_valid_message_passes_the_jobs_parser() -> None:
    cfg = _cfg(anomaly_rate=0.3)  # faults included: they must stay inside the physical limits
    n = 0
    for m in iter_messages(cfg):
        r = parse_reading(m.value, DEFAULT_LIMITS)
        assert m.key == r.device_id.encode()
        assert set(r.values) <= set(SENSORS)
        n += 1
    assert n > 10_000


def test_epoch_ms_and_iso_carry_the_same_instant() -> None:
    cfg = _cfg(devices=2, duration_s=60)
    a = [parse_reading(m.value) for m in iter_messages(cfg)]
    b = [parse_reading(m.value) for m in iter_messages(cfg, ts_format="epoch_ms")]
    assert [(r.device_id, r.ts_ms) for r in a] == [(r.device_id, r.ts_ms) for r in b]
    assert str(iso_ms(__import__("numpy").array([a[0].ts_ms]))[0]) == orjson.loads(next(iter_messages(cfg)).value)["ts"]


def test_malformed_messages_are_extra_and_get_the_meant_reason() -> None:
    cfg = _cfg(malformed_rate=0.05)
    msgs = list(iter_messages(cfg))
    bad = [m for m in msgs if m.malformed]
    good = [m for m in msgs if not m.malformed]
    assert len(good) == sum(1 for _ in iter_messages(cfg.model_copy(update={"malformed_rate": 0.0})))
    assert set(m.malformed for m in bad) == set(MALFORMED_KINDS)
    for m in bad:
        with pytest.raises(InvalidReading) as e:
            parse_reading(m.value, DEFAULT_LIMITS)
        assert e.value.reason == m.malformed, (m.value, e.value.reason)
    assert not any(m.malformed for m in iter_messages(_cfg()))  # off by default


def test_shards_partition_the_stream_and_keep_device_order() -> None:
    cfg = _cfg(malformed_rate=0.02)
    full = list(iter_messages(cfg))
    shards, valid = [], []
    for w in range(3):
        sim = Simulation(cfg)
        part, ok = [], []
        for _, keys, values, bad in iter_batches(sim, shard=(w, 3)):
            ok += list(zip(keys, values))
            part += list(zip(keys, values)) + [(keys[p], raw) for p, _, raw in bad]
        shards.append(part)
        valid.append(ok)
    assert Counter(x for s in shards for x in s) == Counter((m.key, m.value) for m in full)
    for ok in valid:  # each device's valid readings keep their order inside its shard
        for key in {k for k, _ in ok}:
            assert [v for k, v in ok if k == key] == [m.value for m in full if m.key == key and not m.malformed]
