"""The job computes exactly what ``vigil replay`` computes (the contract offline evaluation
rests on).

The same readings -- a fault, a device falling silent mid-stream, a sensor missing for
longer than ``max_gap``, a duplicate and an out-of-order reading -- go once through the job's
topology on a MiniCluster (JVM watermarks and keying, device state, the pandas scoring UDF,
the alert policy behind the JVM re-keying) and once through ``vigil replay``. Every window
score and every alert must agree.
"""

from __future__ import annotations

import json
import math
import pandas as pd
import pytest

from job_fixtures import SENSORS, T0, job_config, make_bundle, readings, run_core

pytestmark = pytest.mark.timeout(600)

WINDOW, SLIDE, STEPS = 20, 5, 150
SILENT_AFTER = 30_000


def _stream() -> list[dict]:
    out = []
    for r in readings(3, STEPS, anomaly={"dev-001": (60, 85)}, seed=7):
        step = (r["ts"] - T0) // 1000
        if r["device_id"] == "dev-002" and 50 <= step < 100:
            continue  # 50 s of silence > silent_after: stream_silent opens and closes
        if r["device_id"] == "dev-000" and 30 <= step < 40:
            r["values"]["s2"] = None  # one sensor missing longer than max_gap
        out.append(r)
        if r["device_id"] == "dev-000" and step == 120:  # a duplicate and an out-of-order reading
            out.append(dict(r))
            out.append({"device_id": "dev-000", "ts": r["ts"] - 1500, "values": {s: 1.0 for s in SENSORS}})
    return out


def _replay(cfg, bundle: str, rows: list[dict]):
    from jobs.replay import replay
    from training.data import Dataset

    frame = pd.DataFrame([{"device_id": r["device_id"], "ts": r["ts"],
                           **{s: (math.nan if r["values"].get(s) is None else r["values"][s]) for s in SENSORS}}
                          for r in rows])
    return replay(Dataset(frame, list(SENSORS), "job-vs-replay"), bundle, cfg)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    bundle = str(make_bundle(tmp_path_factory.mktemp("bundles"), window=WINDOW, slide=SLIDE))
    cfg = job_config(bundle, emit_scores=True, silent_after_ms=SILENT_AFTER, max_gap=5)
    rows = _stream()
    return rows, run_core(cfg, bundle, [json.dumps(r).encode() for r in rows], drift_every_s=1e9), \
        _replay(cfg, bundle, rows)


def test_every_window_score_equals_replay(both):
    _, out, rep = both
    job_scores = {(o["device_id"], o["window_end_ms"]): o["score"] for o in out if "window_end_ms" in o}
    replay_scores = {(r.device_id, int(r.window_end)): float(r.score) for r in rep.windows.itertuples()}
    assert len(job_scores) == len(replay_scores) > 60
    assert job_scores.keys() == replay_scores.keys()
    assert all(math.isclose(job_scores[k], replay_scores[k], rel_tol=1e-5, abs_tol=1e-6) for k in job_scores)


def test_every_alert_equals_replay(both):
    rows, out, rep = both
    job_alerts = {(o["alert_id"], o["status"], o["kind"]) for o in out if "alert_id" in o}
    replay_alerts = {(a.alert_id, a.status, a.kind) for a in rep.alerts}
    kinds = {k for _, _, k in replay_alerts}
    assert {"anomaly", "stream_silent"} <= kinds  # the stream exercises both kinds of state
    assert replay_alerts <= job_alerts
    # the only extra: the end of input (final watermark) marks every device silent; replay has no
    # timers after the last reading
    extra = job_alerts - replay_alerts
    assert {(k, s) for _, s, k in extra} == {("stream_silent", "open")}
    assert len(extra) == len({r["device_id"] for r in rows})
