"""Passthrough job: Kafka ``sensor-readings`` → parse/validate → Kafka output topic (+ DLQ).

The pipe the anomaly job replaces, and its speed baseline: one Python stage per record
(``udfs.schema.parse_reading``), nothing else. Valid readings leave unchanged (same bytes)
keyed by ``device_id``; invalid ones go to the DLQ topic as DESIGN's DLQ record.

Submit it to the stack's cluster::

    vigil submit --job passthrough -- --input-topic sensor-readings --output-topic readings-out

Options (all optional): ``--bootstrap``, ``--input-topic``, ``--output-topic``, ``--dlq-topic``,
``--group-id``, ``--parallelism``, ``--starting-offsets committed|earliest|latest``,
``--bounded`` (stop at the offsets present at start: for benchmarks), ``--delivery
exactly-once|at-least-once``, ``--checkpoint-ms``, ``--python-mode process|thread``.

Why the output goes through a Table sink: PyFlink's DataStream ``KafkaSink`` serialises the
whole element as the key, so a per-record key (``device_id``) needs the SQL Kafka connector's
``key.fields``; :func:`keyed_kafka_sink_ddl` builds that table, and the parsed DataStream is
bridged to it with ``from_data_stream`` (one job, one Python stage).
"""

from __future__ import annotations

import argparse
import json
import re

from pyflink.common import Configuration, Row, Types, WatermarkStrategy
from pyflink.common.serialization import ByteArraySchema, SimpleStringSchema
from pyflink.datastream import OutputTag, ProcessFunction, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)
from pyflink.table import StreamTableEnvironment

DLQ_TAG = OutputTag("dlq", Types.STRING())
PARSED_TYPE = Types.ROW_NAMED(["device_id", "payload"], [Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())])


class ParseOrDlq(ProcessFunction):
    """Valid reading → ``Row(device_id, original payload bytes)``; invalid → DLQ JSON (side output).

    Validation is the anomaly job's: ``parse_reading`` with the physical ``DEFAULT_LIMITS``.
    """

    def __init__(self, source_topic: str) -> None:
        self.source_topic = source_topic

    def open(self, runtime_context) -> None:  # noqa: ANN001 - Flink's signature
        from udfs.schema import DEFAULT_LIMITS, InvalidReading, dlq_record, parse_reading

        self._parse, self._dlq, self._invalid = parse_reading, dlq_record, InvalidReading
        self._limits = DEFAULT_LIMITS

    def process_element(self, value: bytes, ctx):  # noqa: ANN001, ANN201 - Flink's signature
        try:
            reading = self._parse(value, self._limits)
        except self._invalid as exc:
            rec = self._dlq(exc.reason, exc.detail, value, self.source_topic)
            yield DLQ_TAG, json.dumps(rec)
            return
        yield Row(reading.device_id, value)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def keyed_kafka_sink_ddl(
    table: str, topic: str, bootstrap: str, *, key_column: str = "device_id",
    value_column: str = "payload", delivery: str = "exactly-once", txn_prefix: str | None = None,
) -> str:
    """DDL of a Kafka sink table writing ``value_column`` (BYTES) as the raw value, keyed by
    ``key_column`` (STRING, UTF-8) — Kafka's default partitioner then hashes the key.

    >>> "'key.fields' = 'device_id'" in keyed_kafka_sink_ddl("t", "out", "127.0.0.1:9092")
    True
    """
    opts = {
        "connector": "kafka", "topic": topic, "properties.bootstrap.servers": bootstrap,
        "key.format": "raw", "key.fields": key_column,
        "value.format": "raw", "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": delivery,
    }
    if delivery == "exactly-once":
        opts["sink.transactional-id-prefix"] = txn_prefix or f"vigil-{topic}"
    with_ = ",\n  ".join(f"{_sql_str(k)} = {_sql_str(v)}" for k, v in opts.items())
    return (f"CREATE TEMPORARY TABLE `{table}` (`{key_column}` STRING, `{value_column}` BYTES)\n"
            f"WITH (\n  {with_}\n)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Job arguments (see module docstring)."""
    p = argparse.ArgumentParser(prog="passthrough_job", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--input-topic", default="sensor-readings")
    p.add_argument("--output-topic", default="sensor-readings-out")
    p.add_argument("--dlq-topic", default="sensor-readings-dlq")
    p.add_argument("--group-id", default=None, help="consumer group (default vigil-passthrough-<output>)")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--starting-offsets", choices=["committed", "earliest", "latest"], default="committed",
                   help="committed = the group's offsets, earliest when it has none")
    p.add_argument("--bounded", action="store_true", help="finish at the offsets present at start")
    p.add_argument("--delivery", choices=["exactly-once", "at-least-once"], default="exactly-once")
    p.add_argument("--checkpoint-ms", type=int, default=2000)
    p.add_argument("--python-mode", choices=["process", "thread"], default="process")
    p.add_argument("--job-name", default=None)
    return p.parse_args(argv)


def build(env: StreamExecutionEnvironment, args: argparse.Namespace):  # noqa: ANN201 - a StatementSet
    """Add the passthrough topology to ``env``; returns the statement set to attach/execute."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", args.output_topic)
    group = args.group_id or f"vigil-passthrough-{safe}"
    offsets = {
        "committed": KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST),
        "earliest": KafkaOffsetsInitializer.earliest(),
        "latest": KafkaOffsetsInitializer.latest(),
    }[args.starting_offsets]
    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(args.bootstrap)
        .set_topics(args.input_topic)
        .set_group_id(group)
        .set_starting_offsets(offsets)
        .set_value_only_deserializer(ByteArraySchema())
        .set_property("partition.discovery.interval.ms", "30000")
    )
    if args.bounded:
        builder = builder.set_bounded(KafkaOffsetsInitializer.latest())
    raw = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), "kafka-readings").uid("source")
    parsed = raw.process(ParseOrDlq(args.input_topic), output_type=PARSED_TYPE).uid("parse").name("parse")

    guarantee = DeliveryGuarantee.EXACTLY_ONCE if args.delivery == "exactly-once" else DeliveryGuarantee.AT_LEAST_ONCE
    dlq_sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(args.bootstrap)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(args.dlq_topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(guarantee)
        .set_transactional_id_prefix(f"vigil-pt-dlq-{safe}")
        .build()
    )
    parsed.get_side_output(DLQ_TAG).sink_to(dlq_sink).uid("dlq-sink").name("dlq-sink")

    t_env = StreamTableEnvironment.create(env)
    t_env.create_temporary_view("parsed", t_env.from_data_stream(parsed))
    t_env.execute_sql(keyed_kafka_sink_ddl("out", args.output_topic, args.bootstrap,
                                           delivery=args.delivery, txn_prefix=f"vigil-pt-{safe}"))
    stmts = t_env.create_statement_set()
    stmts.add_insert_sql("INSERT INTO `out` SELECT device_id, payload FROM parsed")
    return stmts


def main(argv: list[str] | None = None) -> None:
    """Build and run the job (detached under `flink run -d`)."""
    args = parse_args(argv)
    conf = Configuration()
    conf.set_string("python.execution-mode", args.python_mode)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(args.parallelism)
    env.enable_checkpointing(args.checkpoint_ms)
    stmts = build(env, args)
    stmts.attach_as_datastream()
    env.execute(args.job_name or f"vigil-passthrough {args.input_topic}->{args.output_topic}")


if __name__ == "__main__":
    main()
