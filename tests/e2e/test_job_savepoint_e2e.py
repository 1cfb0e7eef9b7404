"""Savepoints of the anomaly job survive a model change (real stack).

Phase 1 runs the job with bundle v1 until every device has emitted its first windows and
dev-000's injected fault has opened an anomaly; the job is stopped with a savepoint. Phase 2
restores that savepoint with a *different* bundle (v2, same feature spec). If the keyed state
(operator uids ``vigil-device-state`` / ``vigil-alert-policy``) is restored:

* every device emits its next window after ``slide`` readings, not after a fresh ``window``;
* the open anomaly closes in phase 2 under the alert id it opened with (AlertState restored;
  a close names the opening model, so the id is v1's);
* phase 2's windows are scored by v2.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import consume_n, produce_json  # noqa: E402
from job_fixtures import SENSORS, cancel_job, job_topics, readings, submit_job, window_count  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

WINDOW, SLIDE, DEVICES = 20, 5, 10
PHASE1, TOTAL = 30, 70  # readings per device before / after the savepoint
FAULT = (12, 40)  # dev-000's anomalous steps: open before the savepoint, clear after it


def test_savepoint_restore_keeps_device_and_alert_state_across_a_model_change(stack, tmp_path):
    from bundle_factory import make_iforest_bundle
    from jobs.submit import stop_with_savepoint

    tag = f"jobsp-{uuid.uuid4().hex[:8]}"
    t = job_topics(stack, tag)
    v1 = make_iforest_bundle(tmp_path / "b", SENSORS, WINDOW, SLIDE, version="v1", seed=0, n_estimators=50)
    v2 = make_iforest_bundle(tmp_path / "b", SENSORS, WINDOW, SLIDE, version="v2", seed=1, n_estimators=50)
    assert v1 != v2
    rows = readings(DEVICES, TOTAL, seed=5, anomaly={"dev-000": FAULT})
    first = [r for r in rows if r["ts"] < rows[0]["ts"] + PHASE1 * 1000]
    rest = rows[len(first):]

    # phase 1: v1 until the windows are out and the anomaly is open
    produce_json(stack.kafka_bootstrap, t["in"], [json.dumps(r).encode() for r in first])
    job1 = submit_job(stack, v1, t, "--delivery", "at-least-once")
    try:
        n1 = DEVICES * window_count(PHASE1, WINDOW, SLIDE)
        s1 = consume_n(stack.kafka_bootstrap, t["scores"], n1, 600, decode_json=True)
        # alerts leave with the scores (same operator): read whatever is there by now
        opened = [a for a in consume_n(stack.kafka_bootstrap, t["anom"], 100, 20, decode_json=True)
                  if a["kind"] == "anomaly" and a["status"] == "open"]
        assert opened and opened[0]["device_id"] == "dev-000", opened
        savepoint = stop_with_savepoint(job1, tmp_path / "savepoints", stack=stack)
    except BaseException:
        cancel_job(stack, job1)
        raise
    assert {s["model"]["version"] for s in s1} == {"v1"}

    # phase 2: the rest of the readings, restored with v2
    produce_json(stack.kafka_bootstrap, t["in"], [json.dumps(r).encode() for r in rest])
    # (the savepoint's source offsets win over --starting-offsets)
    job2 = submit_job(stack, v2, t, "--delivery", "at-least-once", from_savepoint=savepoint)
    try:
        n_all = DEVICES * window_count(TOTAL, WINDOW, SLIDE)
        scores = consume_n(stack.kafka_bootstrap, t["scores"], n_all, 600, decode_json=True)
        alerts = consume_n(stack.kafka_bootstrap, t["anom"], 100, 20, decode_json=True)
    finally:
        cancel_job(stack, job2)

    s2 = scores[len(s1):]
    # restored device state: every device continued its slide (a fresh state would emit
    # only window_count(TOTAL - PHASE1) windows per device, the first after `WINDOW` readings)
    per_dev = Counter(s["device_id"] for s in s2)
    want = window_count(TOTAL, WINDOW, SLIDE) - window_count(PHASE1, WINDOW, SLIDE)
    assert want > window_count(TOTAL - PHASE1, WINDOW, SLIDE)
    assert per_dev == {f"dev-{d:03d}": want for d in range(DEVICES)}, per_dev
    assert {s["model"]["version"] for s in s2} == {"v2"}
    # restored alert state: the anomaly opened under v1 closes under the same id
    closed = [a for a in alerts if a["kind"] == "anomaly" and a["status"] == "closed"]
    assert [a["alert_id"] for a in closed] == [opened[0]["alert_id"]], alerts
