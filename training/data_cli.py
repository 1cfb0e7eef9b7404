"""``vigil simulate``, ``vigil eda``, ``vigil archive compact`` and ``vigil bench simulator`` (heavy
imports inside commands)."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` → seconds.

    >>> parse_duration("15m"), parse_duration("1.5h"), parse_duration("42")
    (900.0, 5400.0, 42.0)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", text)
    if not m:
        raise typer.BadParameter(f"duration {text!r}: use a number of seconds or 90s / 15m / 2h / 1d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def parse_start(text: str | None) -> int | None:
    """``None``/``"now"`` → None (now); epoch ms digits; or ISO-8601 (naive = UTC) → epoch ms.

    >>> parse_start("2026-11-23T14:00:00Z"), parse_start("1795442400000"), parse_start("now")
    (1795442400000, 1795442400000, None)
    """
    if text is None or text.lower() == "now":
        return None
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"--start {text!r}: use ISO-8601 (2026-11-23T14:00:00Z), epoch ms or 'now'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _default_bootstrap() -> str:
    from deploy.settings import StackSettings

    return StackSettings().kafka_bootstrap


def _progress(total: int | None, desc: str, quiet: bool):
    """A rich progress line on stderr (transient off so the final state stays visible)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(
        TextColumn(desc),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        refresh_per_second=4,
    )
    task = prog.add_task(desc, total=total, rate="")
    t0 = time.perf_counter()
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        dt = time.perf_counter() - t0
        prog.update(task, advance=n, rate=f"{done[0] / dt:,.0f}/s" if dt > 0 else "")

    return prog, tick


def simulate_cmd(
    devices: int = typer.Option(10, "--devices", "-n", help="number of devices (pump-01 …)"),
    rate: float = typer.Option(1.0, "--rate", help="readings per second PER DEVICE (total = devices × rate)"),
    duration: str = typer.Option("10m", "--duration", help="event-time length: seconds or 90s / 15m / 2h / 1d"),
    seed: int = typer.Option(0, "--seed", help="random seed (same seed + --start → identical output)"),
    anomaly_rate: float = typer.Option(0.02, "--anomaly-rate", help="target fraction of time inside injected faults"),
    fault_free: Optional[str] = typer.Option(None, "--fault-free", help="no faults in the first DURATION (e.g. 3h: train on it, score the rest); --anomaly-rate then applies after it"),
    start: Optional[str] = typer.Option(None, "--start", help="event time of the first reading: ISO-8601, epoch ms or 'now' (default)"),
    realtime: bool = typer.Option(False, "--realtime/--as-fast-as-possible", help="pace by event time against the wall clock"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the labelled stream to this CSV"),
    to_kafka: bool = typer.Option(False, "--to-kafka", help="produce to Kafka instead of a CSV"),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default: the local stack's)"),
    topic: str = typer.Option("sensor-readings", "--topic"),
    ts_format: str = typer.Option("iso", "--ts-format", help="Kafka `ts`: iso (…T14:00:00.120Z) or epoch-ms"),
    order: str = typer.Option("delivery", "--order", help="CSV row order: delivery (as Kafka gets it) or event"),
    dropout_rate: float = typer.Option(0.002, "--dropout-rate", help="probability a sensor value is missing"),
    late_fraction: float = typer.Option(0.02, "--late-fraction", help="fraction of readings delivered late (out of order)"),
    malformed_rate: float = typer.Option(0.0, "--malformed-rate", help="extra malformed messages per reading, Kafka only (DLQ tests)"),
    kinds: Optional[str] = typer.Option(None, "--kinds", help="comma-separated fault kinds (default: all)"),
    max_readings: Optional[int] = typer.Option(None, "--max-readings", help="stop after exactly this many readings"),
    compression: str = typer.Option("zstd", "--compression", help="Kafka compression: zstd, gzip or none"),
    workers: int = typer.Option(1, "--workers", help="producer processes (devices sharded, order per device kept)"),
    faults_out: Optional[Path] = typer.Option(None, "--faults-out", help="write the fault plan (ground truth) as JSON"),
    device_prefix: str = typer.Option("pump", "--device-prefix", help="device ids are <prefix>-01 …"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress line"),
) -> None:
    """Simulate pumps/motors (8 sensors, daily cycles, load regimes, dropouts, late data, labelled faults)."""
    from pydantic import ValidationError

    from training.sim_faults import FAULT_KINDS
    from training.simulator import SimConfig, Simulation

    if bool(out) == bool(to_kafka):
        raise typer.BadParameter("choose exactly one of --out PATH or --to-kafka")
    if ts_format not in ("iso", "epoch-ms", "epoch_ms"):
        raise typer.BadParameter(f"--ts-format {ts_format!r}: use iso or epoch-ms")
    if malformed_rate and not to_kafka:
        raise typer.BadParameter("--malformed-rate only applies with --to-kafka (the CSV holds valid readings)")
    try:
        cfg = SimConfig(
            devices=devices, rate=rate, duration_s=parse_duration(duration), seed=seed,
            anomaly_rate=anomaly_rate, start_ms=parse_start(start), dropout_rate=dropout_rate,
            fault_free_s=parse_duration(fault_free) if fault_free else None,
            late_fraction=late_fraction, malformed_rate=malformed_rate, order=order,
            kinds=tuple(k.strip() for k in kinds.split(",")) if kinds else FAULT_KINDS,
            max_readings=max_readings, device_prefix=device_prefix,
        )
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" if x["loc"] else x["msg"]
                         for x in e.errors())
        raise typer.BadParameter(msgs) from None
    if cfg.start_ms is None:  # fix "now" once so the fault plan and the stream agree
        cfg = cfg.model_copy(update={"start_ms": int(time.time() * 1000)})
    expected = cfg.max_readings or int(cfg.devices * cfg.duration_s * cfg.rate)
    if faults_out:
        faults_out.parent.mkdir(parents=True, exist_ok=True)
        faults_out.write_text(json.dumps([f.to_dict() for f in Simulation(cfg).faults], indent=1))
    err = typer.echo
    try:
        if out:
            from training.simulator import write_csv

            if realtime:
                raise typer.BadParameter("--realtime applies to --to-kafka; a CSV is written as fast as possible")
            prog, tick = _progress(expected, f"simulate → {out}", quiet)
            with prog:
                summary = write_csv(cfg, out, progress=tick)
        else:
            from training.sim_kafka import produce

            bs = bootstrap or _default_bootstrap()
            prog, tick = _progress(expected, f"simulate → kafka {bs} {topic}", quiet)
            with prog:
                summary = produce(cfg, bs, topic, ts_format="iso" if ts_format == "iso" else "epoch_ms",
                                  realtime=realtime, compression=compression, workers=workers, progress=tick)
    except (RuntimeError, ValueError, OSError) as e:
        err(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    summary["devices"] = cfg.devices
    summary["seed"] = cfg.seed
    summary["start_ms"] = cfg.start_ms
    rate_txt = f"{summary['readings_per_s']:,.0f} readings/s" if summary.get("readings_per_s") else ""
    err(f"done: {summary['readings']:,} readings in {summary['seconds']:.2f}s ({rate_txt}), "
        f"{summary['faults']} faults injected" + (f", {summary.get('malformed', 0)} malformed" if to_kafka else ""), err=True)
    typer.echo(json.dumps(summary))


def eda_cmd(
    path: Path = typer.Argument(..., help="dataset (any training.data format; relative paths also tried under VIGIL_DATASETS)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file (default: reports/eda-<name>.html)"),
    fmt: str = typer.Option("auto", "--format", help="auto, sim, nab, skab, csv or parquet"),
    max_rows: int = typer.Option(500_000, "--max-rows", help="sample at most this many rows for plots"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Exploratory report (HTML with plots): statistics, missingness, correlation, seasonality, anomalies."""
    from training.data import DataError
    from training.eda import build_report

    say = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
    try:
        result = build_report(path, out=out, fmt=fmt, max_rows=max_rows, say=say)
    except (DataError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(result))


def bench_simulator_cmd(
    devices: int = typer.Option(200, "--devices"),
    duration: str = typer.Option("30m", "--duration"),
    kafka_readings: int = typer.Option(200_000, "--kafka-readings", help="readings produced for the Kafka figure (0 = skip)"),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap"),
    workers: int = typer.Option(1, "--workers"),
    compression: str = typer.Option("zstd", "--compression"),
    out: Path = typer.Option(Path("bench-results/simulator.json"), "--out"),
) -> None:
    """Measure simulator → CSV and simulator → Kafka readings/s; write JSON to bench-results/."""
    import os
    import platform
    import tempfile
    import uuid

    from training.simulator import SimConfig, write_csv

    cfg = SimConfig(devices=devices, duration_s=parse_duration(duration), seed=1, start_ms=1_795_442_400_000)
    res: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": f"{platform.node()} {os.cpu_count()} cores",
                 "load_avg_1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as d:
        s = write_csv(cfg, Path(d) / "bench.csv")
    res["csv"] = {k: s[k] for k in ("readings", "seconds", "readings_per_s", "cpu_s", "readings_per_cpu_s")}
    typer.echo(f"CSV: {s['readings']:,} readings in {s['seconds']}s → {s['readings_per_s']:,.0f}/s "
               f"({s['readings_per_cpu_s']:,.0f} per CPU-second)", err=True)
    if kafka_readings:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        from training.sim_kafka import produce

        bs = bootstrap or _default_bootstrap()
        topic = f"bench-sim-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=bs)
        admin.create_topics([NewTopic(topic, 4, 1)])
        try:
            kc = cfg.model_copy(update={"max_readings": kafka_readings})
            k = produce(kc, bs, topic, workers=workers, compression=compression)
        finally:
            admin.delete_topics([topic])
            admin.close()
        res["kafka"] = {x: k[x] for x in ("readings", "seconds", "readings_per_s", "cpu_s", "readings_per_cpu_s",
                                           "workers", "compression")}
        typer.echo(f"Kafka: {k['readings']:,} readings in {k['seconds']}s → {k['readings_per_s']:,.0f}/s "
                   f"({k['readings_per_cpu_s']:,.0f} per CPU-second of the producer)", err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    typer.echo(str(out))


def archive_compact_cmd(
    path: str = typer.Argument(..., help="the job's --archive-path (a folder or a URI pyarrow can open)", envvar="VIGIL_ARCHIVE_PATH"),
    keep_days: int = typer.Option(1, "--keep-days", min=0, help="leave today and this many days before it alone (the job is still writing them)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only say which days would be compacted"),
) -> None:
    """Rewrite each closed day of the job's Parquet archive (one part file per checkpoint) as one file; crash-safe."""
    from training.archive import ArchiveError, compact_archive

    def say(r) -> None:  # noqa: ANN001
        extra = f", {r.rows:,} rows → {r.file_out}" if r.file_out else ""
        typer.echo(f"day={r.day}: {r.action} ({r.files_in} files{extra})", err=True)

    try:
        res = compact_archive(path, keep_days=keep_days, dry_run=dry_run, progress=say)
    except (ArchiveError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if not res:
        typer.echo(f"{path}: no day=YYYY-MM-DD folders yet: nothing to do", err=True)
    done = [r for r in res if r.action == "compacted"]
    typer.echo(json.dumps({"days": len(res), "compacted": len(done),
                           "files_removed": sum(r.files_in for r in done), "rows": sum(r.rows for r in done)}))


def register(app: typer.Typer) -> None:
    """Add ``simulate``, ``eda`` and ``archive compact`` to the root app and ``simulator`` to
    ``vigil bench``."""
    from deploy.cli_groups import bench_app

    app.command("simulate")(simulate_cmd)
    app.command("eda")(eda_cmd)
    archive_app = typer.Typer(help="The anomaly job's Parquet archive (--archive-path).", no_args_is_help=True)
    archive_app.command("compact")(archive_compact_cmd)
    app.add_typer(archive_app, name="archive")
    bench_app.command("simulator")(bench_simulator_cmd)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.run(simulate_cmd))
