"""The Vigil anomaly job: Kafka readings → validated, keyed, windowed (JVM) → batch-scored
(one pandas UDF) → alert policy (JVM) → Kafka ``anomalies`` (+ DLQ, model-drift, optional
window-scores, archive).

Topology (operator uids in brackets; keep them stable, savepoints map state by uid)::

    Kafka sensor-readings (SQL table: raw BYTES + topic/partition/offset metadata)
      → parse-validate        [vigil-parse]        JVM; invalid → DLQ side output
      → event time            [vigil-watermarks]   JVM: bounded out-of-orderness + idleness
      → keyBy(device) → device windows [vigil-device-state]  JVM: ring buffer per device, TTL,
            timers (stream_silent), late → DLQ, stream-level alerts → side output
      → pandas UDF score_windows (Table API, Arrow batches; one InferenceSession per worker):
            udfs.batch.score_batch = imputation, features, ONNX, top features, drift
      → keyBy(device) → alert policy [vigil-alert-policy]  JVM
      → Kafka anomalies (exactly-once by default) ∪ stream-level alerts
    side outputs → Kafka sensor-readings-dlq, model-drift, window-scores (optional),
                   archive (optional: validated readings, Parquet partitioned by day)

No Python runs per reading: the JVM operators (``jobs/jvm``) implement the per-device semantics
that ``udfs/`` defines (and replay runs), proven equal by tests/test_jvm_equals_udfs.py and
tests/test_job_equals_replay.py. Submit: ``vigil submit --job anomaly -- --bundle models/iforest
[options]``; options below, and every ``udfs.config.JobConfig`` field through ``--set
field=value`` or ``VIGIL_JOB_*``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ options
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Job arguments (see module docstring). JobConfig fields: ``--set name=value`` (JSON values)."""
    p = argparse.ArgumentParser(prog="anomaly_job", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", default=None, help="bundle version dir or models/<name> (default JobConfig.bundle_path)")
    p.add_argument("--config", default=None, help="JSON/YAML file of JobConfig fields")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one JobConfig field (value parsed as JSON when possible)")
    p.add_argument("--bootstrap", default=None)
    p.add_argument("--input-topic", default=None)
    p.add_argument("--group-id", default=None)
    p.add_argument("--starting-offsets", choices=["committed", "earliest", "latest"], default="committed",
                   help="committed = the group's offsets (earliest when it has none)")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets present at start (tests, bench)")
    p.add_argument("--delivery", choices=["exactly-once", "at-least-once"], default=None)
    p.add_argument("--checkpoint-ms", type=int, default=None)
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--bundle-ms", type=int, default=100,
                   help="python.fn-execution.bundle.time: max ms windows wait for the scoring UDF")
    p.add_argument("--bundle-size", type=int, default=10_000,
                   help="python.fn-execution.bundle.size: max windows per Python bundle")
    p.add_argument("--arrow-batch", type=int, default=1000, help="windows per pandas UDF batch (≤ bundle size)")
    p.add_argument("--buffer-timeout-ms", type=int, default=10,
                   help="execution.buffer-timeout: max ms a record waits in a network buffer before "
                        "the buffer is sent")
    p.add_argument("--state-backend", choices=["rocksdb", "hashmap"], default="rocksdb",
                   help="rocksdb (default: state on disk, any number of devices) or hashmap (heap)")
    p.add_argument("--flink-conf", action="append", default=[], metavar="KEY=VALUE",
                   help="any Flink configuration option for this job (e.g. a RocksDB tuning option)")
    p.add_argument("--emit-scores", action="store_true", help="per-window scores to the window-scores topic")
    p.add_argument("--archive-path", default=None, help="archive validated readings under this path")
    p.add_argument("--drift-every-s", type=float, default=60.0)
    p.add_argument("--job-name", default=None)
    return p.parse_args(argv)


def _coerce(v: str) -> Any:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def job_config(args: argparse.Namespace) -> Any:
    """JobConfig from defaults < ``--config`` file < ``VIGIL_JOB_*`` env < flags/``--set``."""
    from udfs.config import JobConfig

    over: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        over[k.strip()] = _coerce(v)
    flags = {"bundle_path": args.bundle, "bootstrap": args.bootstrap, "topic_readings": args.input_topic,
             "group_id": args.group_id, "checkpoint_interval_ms": args.checkpoint_ms,
             "parallelism": args.parallelism, "archive_path": args.archive_path,
             "delivery_guarantee": args.delivery.replace("-", "_") if args.delivery else None}
    over.update({k: v for k, v in flags.items() if v is not None})
    if args.emit_scores:
        over["emit_scores"] = True
    cfg = JobConfig.from_file(args.config, **over) if args.config else JobConfig(**over)
    bp = Path(cfg.bundle_path)
    if not bp.is_absolute():  # workers run elsewhere: pin the path now
        cfg = cfg.model_copy(update={"bundle_path": str((REPO_ROOT / bp) if not bp.exists() else bp.resolve())})
    return cfg


def resolved_bundle(cfg: Any) -> str:
    """The concrete version dir (``models/<name>`` → its PROMOTED/newest version), so every
    worker loads the same version even if a newer one appears while the job runs."""
    from udfs.bundle import resolve_bundle_dir

    return str(resolve_bundle_dir(cfg.bundle_path))


# ------------------------------------------------------------------ environment
def make_env(cfg: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """Stream + table environments: checkpoints, state backend, Python execution settings."""
    from pyflink.common import Configuration
    from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    conf = Configuration()
    # pandas UDFs always run in Beam worker processes
    conf.set_string("python.execution-mode", "process")
    conf.set_string("python.fn-execution.bundle.time", str(args.bundle_ms))
    conf.set_string("python.fn-execution.bundle.size", str(args.bundle_size))
    conf.set_string("python.fn-execution.arrow.batch.size", str(min(args.arrow_batch, args.bundle_size)))
    conf.set_string("state.backend.type", args.state_backend)
    conf.set_string("execution.checkpointing.incremental", "true")
    # The device state is overwritten in place all the time: float rows barely compress (Snappy
    # cost flushes and compactions CPU) and universal compaction rewrites far less than levelled
    # (at 100k devices: compaction CPU about halved, incremental checkpoints 20 MB instead of
    # 200 MB; docs/job.md). --flink-conf overrides both.
    conf.set_string("state.backend.rocksdb.compression.per.level", "NO_COMPRESSION")
    conf.set_string("state.backend.rocksdb.compaction.style", "UNIVERSAL")
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    for item in args.flink_conf:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--flink-conf expects KEY=VALUE, got {item!r}")
        conf.set_string(k.strip(), v.strip())
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.get_config().enable_object_reuse()  # the JVM operators never keep an input after emitting
    env.set_parallelism(cfg.parallelism)
    env.set_buffer_timeout(args.buffer_timeout_ms)
    env.enable_checkpointing(cfg.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_min_pause_between_checkpoints(min(1000, cfg.checkpoint_interval_ms // 2))
    t_env = StreamTableEnvironment.create(env, EnvironmentSettings.in_streaming_mode())
    tc = t_env.get_config()
    # uids for the Table-API parts (Kafka source, UDF operator) so savepoints map them too
    tc.set("table.exec.uid.generation", "ALWAYS")
    tc.set("python.fn-execution.bundle.time", str(args.bundle_ms))
    tc.set("python.fn-execution.bundle.size", str(args.bundle_size))
    tc.set("python.fn-execution.arrow.batch.size", str(min(args.arrow_batch, args.bundle_size)))
    return env, t_env


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _with(opts: dict[str, str]) -> str:
    return ",\n  ".join(f"{_sql_str(k)} = {_sql_str(v)}" for k, v in opts.items())


def source_ddl(cfg: Any, starting_offsets: str = "committed", bounded: bool = False,
               table: str = "vigil_readings_src") -> str:
    """Kafka source table: the raw value plus topic/partition/offset metadata (the DataStream
    KafkaSource of PyFlink only offers value deserializers, so the DLQ could not name offsets).

    >>> from udfs.config import JobConfig
    >>> ddl = source_ddl(JobConfig(), "earliest", bounded=True)
    >>> "'scan.startup.mode' = 'earliest-offset'" in ddl and "'scan.bounded.mode' = 'latest-offset'" in ddl
    True
    """
    opts = {
        "connector": "kafka", "topic": cfg.topic_readings,
        "properties.bootstrap.servers": cfg.bootstrap, "properties.group.id": cfg.group_id,
        "scan.startup.mode": {"committed": "group-offsets", "earliest": "earliest-offset",
                              "latest": "latest-offset"}[starting_offsets],
        "properties.auto.offset.reset": "earliest",
        "scan.topic-partition-discovery.interval": "30s",
        "format": "raw",
    }
    if bounded:
        opts["scan.bounded.mode"] = "latest-offset"
    return (f"CREATE TEMPORARY TABLE `{table}` (\n  `raw` BYTES,\n"
            "  `topic` STRING METADATA VIRTUAL,\n  `partition` INT METADATA VIRTUAL,\n"
            "  `offset` BIGINT METADATA VIRTUAL\n"
            f") WITH (\n  {_with(opts)}\n)")


def sink_ddl(table: str, topic: str, cfg: Any, txn_prefix: str) -> str:
    """Kafka sink table writing ``payload`` as the raw value keyed by ``k`` (device id or NULL).

    >>> from udfs.config import JobConfig
    >>> "'sink.transactional-id-prefix' = 'p'" in sink_ddl("t", "anomalies", JobConfig(), "p")
    True
    """
    delivery = "exactly-once" if cfg.delivery_guarantee == "exactly_once" else "at-least-once"
    opts = {
        "connector": "kafka", "topic": topic, "properties.bootstrap.servers": cfg.bootstrap,
        "key.format": "raw", "key.fields": "k", "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY", "sink.delivery-guarantee": delivery,
        # transactions must outlive a checkpoint interval plus a restart
        "properties.transaction.timeout.ms": str(max(60_000, 6 * cfg.checkpoint_interval_ms)),
    }
    if delivery == "exactly-once":
        opts["sink.transactional-id-prefix"] = txn_prefix
    return f"CREATE TEMPORARY TABLE `{table}` (`k` STRING, `payload` BYTES)\nWITH (\n  {_with(opts)}\n)"


def archive_ddl(path: str, table: str = "vigil_archive") -> str:
    """Filesystem sink of validated readings as Parquet (SNAPPY), one folder per UTC day
    (``day=YYYY-MM-DD/part-…``; columns ``device_id, ts`` epoch ms, ``values_json``). A local
    path or any URI Flink has a file system for (``s3://`` needs the flink-s3-fs plugin).
    Bulk formats roll a new file on every checkpoint; files become visible when it completes.

    >>> ddl = archive_ddl("s3://bucket/vigil")
    >>> "'format' = 'parquet'" in ddl and "PARTITIONED BY (`day`)" in ddl and "'path' = 's3://bucket/vigil'" in ddl
    True
    """
    uri = path if "://" in path else Path(path).resolve().as_uri()
    return (f"CREATE TEMPORARY TABLE `{table}` (`device_id` STRING, `ts` BIGINT, `values_json` STRING,"
            f" `day` STRING) PARTITIONED BY (`day`)\nWITH (\n  "
            + _with({"connector": "filesystem", "path": uri, "format": "parquet",
                     "parquet.compression": "SNAPPY"}) + "\n)")


# ------------------------------------------------------------------ topology
@dataclass
class Outputs:
    """The job's output streams (rows ``(k, payload bytes)``; archive rows are readings)."""

    anomalies: Any
    dlq: Any
    drift: Any
    scores: Any | None
    archive: Any | None
    topology: Any  # the JVM half (jobs.jvm_ops.JvmTopology), e.g. for tests to tap the windows


def build_core(env: Any, t_env: Any, src: Any, cfg: Any, bundle_dir: str, *,
               drift_every_s: float = 60.0) -> Outputs:
    """Wire parse → event time → device windows (JVM) → batched scoring (pandas UDF) → alert
    policy (JVM) on ``src`` (a DataStream of ``Row(raw, topic, partition, offset)``). Sinks
    are attached separately, so MiniCluster tests run exactly this function on an in-memory
    source."""
    from pyflink.table.expressions import col
    from pyflink.table.udf import udf

    from jobs.jvm_ops import jvm_settings, readings_topology
    from jobs.score_udf import SCORE_RESULT, ScoreWindows
    from udfs.bundle import load_bundle

    cfg = cfg.model_copy(update={"bundle_path": bundle_dir})
    topo = readings_topology(src, jvm_settings(cfg, load_bundle(bundle_dir).manifest))
    score = udf(ScoreWindows(bundle_dir, cfg.model_dump_json(), drift_every_s), result_type=SCORE_RESULT,
                func_type="pandas")
    wt = t_env.from_data_stream(topo.windows)
    scored = t_env.to_data_stream(wt.select(col("device_id"), col("start_ms"), col("end_ms"), col("n_readings"),
                                            score(col("win"), col("device_id")).alias("r")))
    topo.alerts(scored)
    return Outputs(
        anomalies=topo.stream("anomalies"),
        dlq=topo.stream("dlq"),
        drift=topo.stream("drift"),
        scores=topo.stream("scores") if cfg.emit_scores else None,
        archive=topo.stream("archive") if cfg.archive_path else None,
        topology=topo,
    )


def kafka_source(t_env: Any, cfg: Any, starting_offsets: str, bounded: bool) -> Any:
    """The readings source as a DataStream of ``Row(raw, topic, partition, offset)``."""
    t_env.execute_sql(source_ddl(cfg, starting_offsets, bounded))
    return t_env.to_data_stream(t_env.from_path("vigil_readings_src"))


def attach_sinks(t_env: Any, out: Outputs, cfg: Any) -> Any:
    """Kafka sinks (keyed by device id; exactly-once transactions tied to checkpoints unless
    at-least-once) and the optional archive; returns the statement set to attach."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", cfg.group_id)
    stmts = t_env.create_statement_set()
    targets = [("anomalies", out.anomalies, cfg.topic_anomalies), ("dlq", out.dlq, cfg.topic_dlq),
               ("drift", out.drift, cfg.topic_drift)]
    if out.scores is not None:
        targets.append(("scores", out.scores, cfg.topic_scores))
    for name, ds, topic in targets:
        t_env.create_temporary_view(f"v_{name}", t_env.from_data_stream(ds))
        t_env.execute_sql(sink_ddl(f"sink_{name}", topic, cfg, f"{safe}-{name}"))
        stmts.add_insert_sql(f"INSERT INTO `sink_{name}` SELECT k, payload FROM `v_{name}`")
    attach_archive(t_env, out, cfg, stmts)
    return stmts


def attach_archive(t_env: Any, out: Outputs, cfg: Any, stmts: Any) -> None:
    """Add the archive insert (validated readings as Parquet, one folder per UTC day) when
    configured. Files are committed with checkpoints (and at the end of a bounded input).

    The Parquet format's jars (flink-parquet + Hadoop classes, ``deploy.artifacts.parquet_jars``,
    fetched by Maven into the cache on first use) go into ``pipeline.jars``: on the client for
    planning, and uploaded with the job graph, so the cluster's ``lib/`` needs nothing."""
    if out.archive is None:
        return
    from deploy.artifacts import parquet_jars

    out.archive.get_execution_environment().add_jars(*(j.as_uri() for j in parquet_jars()))
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.create_temporary_view("v_archive", t_env.from_data_stream(out.archive))
    t_env.execute_sql(archive_ddl(cfg.archive_path))
    stmts.add_insert_sql(
        "INSERT INTO vigil_archive SELECT device_id, ts_ms, vals_json, "
        "DATE_FORMAT(TO_TIMESTAMP_LTZ(ts_ms, 3), 'yyyy-MM-dd') FROM v_archive")


def preflight(cfg: Any) -> str:
    """Client-side refusal of a bundle this build cannot serve (before anything is submitted).
    Returns the resolved bundle dir; raises SystemExit with the reason otherwise."""
    from jobs.score_udf import check_bundle

    try:
        bundle_dir = resolved_bundle(cfg)
        check_bundle(bundle_dir, cfg.model_copy(update={"bundle_path": bundle_dir}).model_dump_json())
    except Exception as e:  # noqa: BLE001 - every reason becomes one clear message
        raise SystemExit(f"vigil anomaly job: refusing bundle {cfg.bundle_path!r}: {type(e).__name__}: {e}") from e
    return bundle_dir


def main(argv: list[str] | None = None) -> None:
    """Build and run the job (detached under ``flink run -d``)."""
    args = parse_args(argv)
    cfg = job_config(args)
    bundle_dir = preflight(cfg)
    env, t_env = make_env(cfg, args)
    src = kafka_source(t_env, cfg, args.starting_offsets, args.bounded)
    out = build_core(env, t_env, src, cfg, bundle_dir, drift_every_s=args.drift_every_s)
    stmts = attach_sinks(t_env, out, cfg)
    stmts.attach_as_datastream()
    name = args.job_name or f"vigil-anomaly {cfg.topic_readings} [{Path(bundle_dir).parent.name}/{Path(bundle_dir).name}]"
    env.execute(name)


if __name__ == "__main__":
    main()
