"""Simulator → the real Kafka of the local stack: exactly N readings arrive, with the right content.

Uses the session ``stack`` fixture (starts the stack when needed) and fresh topics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import consume_n
from training.sim_kafka import iter_messages, produce
from training.simulator import SimConfig
from udfs.schema import DEFAULT_LIMITS, InvalidReading, parse_reading

pytestmark = pytest.mark.e2e

START = 1_795_442_400_000
VIGIL = str(Path(sys.executable).with_name("vigil"))


def _by_key(records) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for r in records:
        out.setdefault(r.key, []).append(r.value)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_produce_delivers_exactly_the_simulated_readings(stack, kafka_topic, workers) -> None:
    cfg = SimConfig(devices=25, rate=2.0, duration_s=600, seed=21, start_ms=START, anomaly_rate=0.1,
                    dropout_rate=0.01, late_fraction=0.05)
    expected = list(iter_messages(cfg))
    n = len(expected)
    assert n > 25_000
    topic = kafka_topic("sim", 4)
    summary = produce(cfg, stack.kafka_bootstrap, topic, workers=workers)
    assert summary["readings"] == n and summary["malformed"] == 0

    got = consume_n(stack.kafka_bootstrap, topic, n, timeout_s=120, extra_wait_s=3.0)
    assert len(got) == n, f"expected exactly {n} records, got {len(got)}"
    assert Counter((r.key, r.value) for r in got) == Counter((m.key, m.value) for m in expected)
    # key = device id, one partition per device, and the device's send order is kept
    parts: dict[bytes, set[int]] = {}
    for r in got:
        parts.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in parts.values())
    ref = _by_key(expected)
    for key, values in _by_key(got).items():
        assert values == ref[key]
    sample = parse_reading(got[0].value, DEFAULT_LIMITS)
    assert sample.device_id.encode() == got[0].key


def test_cli_to_kafka_with_malformed_messages_and_epoch_ts(stack, kafka_topic) -> None:
    topic = kafka_topic("simcli", 2)
    cmd = [VIGIL, "simulate", "--to-kafka", "--bootstrap", stack.kafka_bootstrap, "--topic", topic,
           "--devices", "10", "--rate", "5", "--duration", "5m", "--seed", "3", "--start", str(START),
           "--max-readings", "5000", "--ts-format", "epoch-ms", "--malformed-rate", "0.02", "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["readings"] == 5000 and summary["malformed"] > 0
    total = summary["readings"] + summary["malformed"]
    got = consume_n(stack.kafka_bootstrap, topic, total, timeout_s=60, extra_wait_s=2.0)
    assert len(got) == total
    ok, reasons = 0, Counter()
    for r in got:
        try:
            reading = parse_reading(r.value, DEFAULT_LIMITS)
        except InvalidReading as e:
            reasons[e.reason] += 1
            continue
        assert isinstance(json.loads(r.value)["ts"], int) and reading.ts_ms >= START
        ok += 1
    assert ok == 5000 and sum(reasons.values()) == summary["malformed"]
    assert set(reasons) <= {"bad_json", "not_object", "missing_device", "bad_ts", "non_numeric", "out_of_range", "not_utf8"}


def test_realtime_mode_paces_by_event_time(stack, kafka_topic) -> None:
    topic = kafka_topic("simrt", 1)
    cfg = SimConfig(devices=2, rate=5.0, duration_s=4.0, seed=1, start_ms=START, anomaly_rate=0, late_fraction=0)
    t0 = time.monotonic()
    summary = produce(cfg, stack.kafka_bootstrap, topic, realtime=True)
    elapsed = time.monotonic() - t0
    assert summary["readings"] == 40
    assert elapsed >= 3.5, f"4 s of event time took only {elapsed:.2f}s in realtime mode"
    got = consume_n(stack.kafka_bootstrap, topic, 40, timeout_s=30)
    ts = [r.timestamp for r in got]  # broker/producer timestamps follow the pacing
    assert ts[-1] - ts[0] >= 3000


def test_unreachable_broker_is_a_clear_error() -> None:
    cfg = SimConfig(devices=1, duration_s=5, start_ms=START)
    with pytest.raises(RuntimeError, match="127.0.0.1:9"):
        produce(cfg, "127.0.0.1:9", "x")
