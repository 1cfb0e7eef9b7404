"""Keyed-state skeleton: the anomaly job's shape with none of its logic -- the ceiling
reference of ``vigil bench job``.

Same source, parse/validate, JVM event time and keyBy, RocksDB, checkpoints and Kafka sinks
as the anomaly job (it reuses ``jobs.anomaly_job``'s wiring and options), but the keyed
stage is a stand-in: per reading it reads the device's state (a ``window × sensors``
float32 ring, the size of the real device state), writes the reading into it and updates
the state; every ``slide`` readings once ``window`` are held it emits one small record to
the window-scores topic -- as many records, at the same points, as the anomaly job emits
window scores. No imputation, features, scoring or alert policy. So::

    passthrough rate  ≥  skeleton rate  ≥  anomaly-job rate

and the skeleton's rate is what *any* job that keeps per-reading keyed state in a Python
function can reach on this cluster, whatever its own code costs.

Submit (the bench does this): ``vigil submit --job skeleton -- <anomaly-job options>``; only
the bundle's window and slide are used from the bundle.
"""

from __future__ import annotations

import json
from typing import Any

from pyflink.common import Row
from pyflink.datastream import KeyedProcessFunction, RuntimeContext


class RingState(KeyedProcessFunction):
    """Per device: a float32 ring of ``window`` readings kept as bytes in keyed state (read and
    written on every reading, like ``DeviceFunction``); one record every ``slide`` readings."""

    def __init__(self, window: int, slide: int, sensors: int, ttl_ms: int) -> None:
        self.window, self.slide, self.sensors, self.ttl_ms = window, slide, sensors, ttl_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        import numpy as np

        from jobs.flink_ops import bytes_state

        self._np = np
        self._state = bytes_state(runtime_context, "skeleton-ring", self.ttl_ms)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        np = self._np
        dev, ts, vals = value[0], value[1], value[2]
        raw = self._state.value()
        if raw is None:
            n, ring = 0, np.zeros((self.window, self.sensors), np.float32)
        else:
            n = int.from_bytes(raw[:8], "little")
            ring = np.frombuffer(raw, np.float32, offset=8).reshape(self.window, self.sensors).copy()
        row = list(vals.values())[: self.sensors]
        ring[n % self.window, : len(row)] = [np.nan if v is None else v for v in row]
        n += 1
        self._state.update(n.to_bytes(8, "little") + ring.tobytes())
        if n >= self.window and (n - self.window) % self.slide == 0:
            yield Row(dev, json.dumps({"device_id": dev, "window_end_ms": ts, "n": n}).encode())


def main(argv: list[str] | None = None) -> None:
    """Build and run the skeleton with the anomaly job's options (detached under ``flink run -d``)."""
    from jobs import anomaly_job as aj
    from jobs import flink_ops as ops
    from udfs.bundle import load_bundle

    args = aj.parse_args(argv)
    cfg = aj.job_config(args)
    spec = load_bundle(aj.resolved_bundle(cfg)).manifest.feature_spec
    env, t_env = aj.make_env(cfg, args)
    src = aj.kafka_source(t_env, cfg, args.starting_offsets, args.bounded)
    parsed, keyed = aj.parse_and_key(src, cfg)
    ring = (keyed.process(RingState(spec.window, spec.slide, len(spec.sensors), cfg.state_ttl_ms),
                          output_type=ops.KEYED_OUT_TYPE)
            .uid("skeleton-ring").name("ring-state"))
    never: Any = ring.get_side_output(ops.ALERT_TAG)  # the skeleton raises no alerts
    out = aj.Outputs(anomalies=never, dlq=parsed.get_side_output(ops.DLQ_TAG),
                     drift=ring.get_side_output(ops.DRIFT_TAG), scores=ring, archive=None)
    stmts = aj.attach_sinks(t_env, out, cfg)
    stmts.attach_as_datastream()
    env.execute(args.job_name or f"vigil-skeleton {cfg.topic_readings}")


if __name__ == "__main__":
    main()
