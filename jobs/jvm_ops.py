"""The bridge to the job's JVM operators (the Maven module ``jobs/jvm``).

:func:`jvm_settings` writes what the Java side needs from the job's ``JobConfig`` and bundle,
with every default and derived value resolved here by the same Python code replay uses
(``Context.jvm_settings``, ``AlertPolicy.jvm_settings``, the physical limits), so the two sides
cannot disagree about a setting. :func:`readings_topology` builds the JVM half of the topology
through py4j (``vigil.flink.job.Topology``) and hands back PyFlink DataStreams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from udfs.alerts import AlertPolicy
from udfs.bundle import Manifest
from udfs.config import JobConfig
from udfs.device_state import Context
from udfs.schema import MIN_TS_MS


def jvm_settings(cfg: JobConfig, manifest: Manifest) -> dict[str, Any]:
    """Settings of the JVM operators for ``cfg`` and a bundle's ``manifest``.

    >>> from udfs.features import FeatureSpec
    >>> m = Manifest(name="m", version="v1", kind="iforest", input={"name": "x", "kind": "features"},
    ...              output={"name": "s"}, feature_spec=FeatureSpec(sensors=["a"], window=4, slide=2),
    ...              thresholds={"global": 0.5})
    >>> s = jvm_settings(JobConfig(operating_limits={"a": [0, 9]}), m)
    >>> s["device"]["T"], s["device"]["op_hi"], s["alerts"]["fallback"], s["parse"]["limits"]["rpm"]
    (4, [9.0], 0.5, [0.0, 100000.0])
    """
    ctx = Context(cfg, manifest.feature_spec)
    device = ctx.jvm_settings()
    # JSON has no infinities: an unbounded operating limit travels as null
    device["op_lo"] = [None if v == float("-inf") else v for v in device["op_lo"]]
    device["op_hi"] = [None if v == float("inf") else v for v in device["op_hi"]]
    return {
        "device": device,
        "alerts": AlertPolicy(cfg, manifest.thresholds).jvm_settings(),
        "parse": {"limits": cfg.sensor_limits().to_dict(), "max_bytes": cfg.max_message_bytes,
                  "min_ts_ms": MIN_TS_MS},
        "topic_readings": cfg.topic_readings,
        "model": {"name": manifest.name, "version": manifest.version},
        "emit_scores": cfg.emit_scores,
        "archive": bool(cfg.archive_path),
        "state_ttl_ms": cfg.state_ttl_ms,
        "device_cache_mb": cfg.device_cache_mb,
        "out_of_orderness_ms": cfg.out_of_orderness_ms,
        "idle_timeout_ms": cfg.idle_timeout_ms,
    }


@dataclass
class JvmTopology:
    """The JVM half of the job: ``windows`` for the scoring UDF, then :meth:`alerts` on the
    scored stream, then the output streams (PyFlink DataStreams of ``(k, payload)`` rows)."""

    j_topology: Any

    @property
    def windows(self) -> Any:
        from pyflink.datastream.data_stream import DataStream

        return DataStream(self.j_topology.windows())

    def alerts(self, scored: Any) -> None:
        """Attach the alert policy to the scoring UDF's output (a PyFlink DataStream)."""
        self.j_topology.alerts(scored._j_data_stream)

    def stream(self, name: str) -> Any:
        """``anomalies``, ``dlq``, ``drift``, ``scores``, ``archive`` or ``windowRecords`` (the
        windows as JSON records, for tests) as a PyFlink DataStream."""
        from pyflink.datastream.data_stream import DataStream

        return DataStream(getattr(self.j_topology, name)())


def readings_topology(src: Any, settings: dict[str, Any]) -> JvmTopology:
    """Parse → event time → keyBy(device) → device windows in the JVM on ``src`` (a PyFlink
    DataStream of ``Row(raw, topic, partition, offset)``). Adds the operators' jar
    (:func:`deploy.artifacts.jvm_ops_jar`) to the job's ``pipeline.jars``: the client loads it
    for planning and ``flink run`` ships it with the job graph."""
    from pyflink.java_gateway import get_gateway

    from deploy.artifacts import jvm_ops_jar

    src.get_execution_environment().add_jars(jvm_ops_jar().as_uri())
    jvm = get_gateway().jvm
    return JvmTopology(jvm.vigil.flink.job.Topology.readings(src._j_data_stream, json.dumps(settings)))
