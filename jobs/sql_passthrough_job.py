"""The pure-JVM anchor of ``vigil bench job``: Kafka readings → Flink SQL's ``json`` format (the
8-sensor reading as a ROW) → Kafka, keyed by device. No Python runs at all once it is submitted
(this file only issues SQL), so its rate is what this stack moves per reading on this machine;
the anomaly job's target is a fraction of it, measured in the same run.

Submit: ``vigil submit --job sql_passthrough -- --input-topic T --output-topic O [--bounded]``.
"""

from __future__ import annotations

import argparse

from udfs.schema import SENSORS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sql_passthrough_job", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--input-topic", required=True)
    p.add_argument("--output-topic", required=True)
    p.add_argument("--group-id", default=None)
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--bounded", action="store_true", help="finish at the offsets present at start")
    p.add_argument("--checkpoint-ms", type=int, default=2000)
    p.add_argument("--job-name", default=None)
    return p.parse_args(argv)


def statements(args: argparse.Namespace) -> list[str]:
    """The DDL and the INSERT of the job.

    >>> s = statements(parse_args(["--input-topic", "i", "--output-topic", "o", "--bounded"]))
    >>> "'scan.bounded.mode' = 'latest-offset'" in s[0] and s[2].startswith("INSERT INTO")
    True
    """
    row = ", ".join(f"`{s}` DOUBLE" for s in SENSORS)
    bounded = ",\n  'scan.bounded.mode' = 'latest-offset'" if args.bounded else ""
    group = args.group_id or f"vigil-sql-passthrough-{args.output_topic}"
    return [
        f"""CREATE TEMPORARY TABLE src (`device_id` STRING, `ts` BIGINT, `values` ROW<{row}>) WITH (
  'connector' = 'kafka', 'topic' = '{args.input_topic}', 'properties.bootstrap.servers' = '{args.bootstrap}',
  'properties.group.id' = '{group}', 'scan.startup.mode' = 'earliest-offset',
  'format' = 'json', 'json.ignore-parse-errors' = 'true'{bounded}
)""",
        f"""CREATE TEMPORARY TABLE sink (`device_id` STRING, `ts` BIGINT, `values` ROW<{row}>) WITH (
  'connector' = 'kafka', 'topic' = '{args.output_topic}', 'properties.bootstrap.servers' = '{args.bootstrap}',
  'key.format' = 'raw', 'key.fields' = 'device_id', 'value.format' = 'json',
  'value.fields-include' = 'ALL', 'sink.delivery-guarantee' = 'at-least-once'
)""",
        "INSERT INTO sink SELECT device_id, ts, `values` FROM src",
    ]


def main(argv: list[str] | None = None) -> None:
    """Submit the SQL (detached under ``flink run -d``)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    args = parse_args(argv)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", str(args.parallelism))
    conf.set("execution.checkpointing.interval", f"{args.checkpoint_ms} ms")
    conf.set("pipeline.name", args.job_name or f"vigil-sql-passthrough {args.input_topic}->{args.output_topic}")
    ddl_src, ddl_out, insert = statements(args)
    t_env.execute_sql(ddl_src)
    t_env.execute_sql(ddl_out)
    t_env.execute_sql(insert)


if __name__ == "__main__":
    main()
