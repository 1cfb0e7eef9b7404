"""Training windows are the job's windows: same readings, same imputation, same features."""

from __future__ import annotations

import math

import numpy as np

from training.simulator import SimConfig, to_frame
from training.train import DEFAULT_CROSS, DEFAULT_PER_SENSOR
from training.windows import make_windows, time_split


def test_windows_equal_the_jobs_device_processor():
    from udfs.config import JobConfig
    from udfs.device_state import Context
    from udfs.features import FeatureSpec
    from udfs.imputation import impute_batch
    from udfs.schema import Reading

    # Dropouts on, so imputation (and the job's skip of long gaps) is exercised.
    frame = to_frame(SimConfig(devices=2, duration_s=900, seed=5, start_ms=1_767_225_600_000,
                               dropout_rate=0.05, order="event"))
    sensors = [c for c in frame.columns if c not in ("device_id", "ts", "label", "fault_kind")]
    spec = FeatureSpec(sensors=sensors, window=20, slide=5, per_sensor=DEFAULT_PER_SENSOR,
                       cross_sensor=DEFAULT_CROSS)
    ours = make_windows(frame, sensors, spec.window, spec.slide, max_imputed=1.0)
    assert np.isnan(frame[sensors].to_numpy()).any()

    cfg = JobConfig()
    ctx = Context(cfg, spec)
    job_x, job_dev, job_end = [], [], []
    for dev, g in frame.groupby("device_id", sort=True):
        proc = ctx.new(str(dev))
        for row in g.sort_values("ts", kind="stable").itertuples(index=False):
            vals = {s: (None if math.isnan(getattr(row, s)) else float(getattr(row, s))) for s in sensors}
            for w in proc.on_reading(Reading(str(dev), int(row.ts), vals)).windows:
                job_x.append(w.values)
                job_dev.append(w.device_id)
                job_end.append(w.end_ms)
    # the job's scoring step imputes the raw windows and skips those with too long a gap
    imp = impute_batch(np.stack(job_x), cfg.imputation, cfg.max_gap, cfg.ewma_alpha)
    job_x = imp.values[imp.ok]
    job_dev = [d for d, ok in zip(job_dev, imp.ok) if ok]
    job_end = [e for e, ok in zip(job_end, imp.ok) if ok]
    assert len(job_x) == len(ours) > 100
    assert list(ours.device_ids) == job_dev and ours.end_ts.tolist() == job_end
    np.testing.assert_array_equal(ours.x, job_x)
    np.testing.assert_array_equal(spec.compute(ours.x), spec.compute(job_x))


def test_time_split_keeps_parts_disjoint_and_ordered():
    frame = to_frame(SimConfig(devices=3, duration_s=1200, seed=1, start_ms=0))
    sensors = [c for c in frame.columns if c not in ("device_id", "ts", "label", "fault_kind")]
    w = make_windows(frame, sensors, 30, 5)
    tr, va, te = time_split(w, 30, 5)
    for dev in np.unique(w.device_ids):
        a, b, c = (p.take(p.device_ids == dev) for p in (tr, va, te))
        # No reading is in two parts: each part starts after the previous part's last reading.
        assert a.end_ts.max() < b.start_ts.min() and b.end_ts.max() < c.start_ts.min()
    assert len(tr) > len(va) > 0 and len(te) > 0
