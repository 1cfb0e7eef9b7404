"""`vigil replay` (a dataset through the job's per-device code) and `vigil bench udfs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def replay_cmd(
    path: Annotated[str, typer.Argument(help="CSV file or folder: simulator, NAB, SKAB, generic CSV, Parquet archive.")],
    bundle: Annotated[Optional[str], typer.Option("--bundle", "-b", help="Bundle: version dir or models/<name>/ (PROMOTED/newest).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for scores, windows, alerts.jsonl, stats.json.")] = Path("replay-out"),
    fmt: Annotated[str, typer.Option("--format", help="Dataset format: auto|sim|nab|skab|csv|parquet.")] = "auto",
    out_format: Annotated[str, typer.Option("--out-format", help="csv | parquet")] = "csv",
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="JobConfig JSON/YAML (VIGIL_JOB_* env also applies).")] = None,
    online: Annotated[Optional[str], typer.Option("--online", help="Online model instead of a bundle: zscore | surprise.")] = None,
    threshold_mode: Annotated[Optional[str], typer.Option("--threshold-mode", help="manifest | fixed | likelihood")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Fixed threshold (oriented score).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Windows per scoring batch.")] = None,
    silent_after_ms: Annotated[Optional[int], typer.Option("--silent-after-ms", help="stream_silent after this gap (set above the data's sampling interval, e.g. 3600000 for NAB's 5-min data).")] = None,
    delivery_order: Annotated[bool, typer.Option("--delivery-order", help="Keep file order instead of sorting by (device, ts).")] = False,
) -> None:
    """Replay a dataset through exactly the job's per-device logic; write per-point scores and alerts.

    Example: vigil replay sim.csv --bundle models/iforest --out out/
    """
    from tqdm import tqdm

    from jobs.replay import ReplayError, replay
    from training.data import DataError, load_dataset
    from udfs.bundle import BundleError
    from udfs.config import JobConfig
    from udfs.features import UnsupportedFeatureSpec

    over: dict = {}
    if threshold_mode:
        over["threshold_mode"] = threshold_mode
    if threshold is not None:
        over["threshold"] = threshold
    if silent_after_ms is not None:
        over["silent_after_ms"] = silent_after_ms
    try:
        cfg = JobConfig.from_file(config, **over) if config else JobConfig(**over)
        ds = load_dataset(path, fmt, sort=not delivery_order)
        if bundle is None and online is None:
            raise ReplayError("give --bundle PATH or --online zscore|surprise")
        with tqdm(total=len(ds.frame), unit="rd", desc="replay", disable=None) as bar:
            res = replay(ds, bundle, cfg, batch_size=batch_size, online=online, progress=bar.update)  # type: ignore[arg-type]
        paths = res.write(out, out_format)  # type: ignore[arg-type]
    except (ReplayError, DataError, BundleError, UnsupportedFeatureSpec, ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    s = res.stats
    typer.echo(f"{s['readings']} readings, {s['devices']} devices, {s['windows_scored']} windows, "
               f"{s['alerts_opened']} alerts opened {s['alerts_by_kind']}, {s['readings_per_s']} readings/s")
    for k, p in paths.items():
        typer.echo(f"{k}: {p}")
    for w in s.get("warnings", []):
        typer.echo(f"warning: {w}", err=True)


def bench_udfs_cmd(
    out: Annotated[Path, typer.Option("--out", help="JSON result file.")] = Path("bench-results/udfs.json"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes (seconds instead of a minute).")] = False,
) -> None:
    """Parse rate, device-state round trip, scoring rows/s (batch 1 / 1024) and replay rate."""
    import json

    from jobs.bench_udfs import run_all

    res = run_all(quick=quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    typer.echo(json.dumps(res, indent=1))
    typer.echo(f"written: {out}")


def register(app: typer.Typer) -> None:
    """Add `vigil replay` and `vigil bench udfs`."""
    from deploy.cli_groups import bench_app

    app.command("replay")(replay_cmd)
    bench_app.command("udfs")(bench_udfs_cmd)
