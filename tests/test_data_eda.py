"""`vigil eda`: a self-contained HTML report with plots, on simulator data and real SKAB/NAB."""

from __future__ import annotations

import base64
import re

import pandas as pd
from typer.testing import CliRunner

from training.data import SIM_SENSORS, Dataset, require_dataset
from training.eda import anomaly_patterns, build_report, sensor_stats
from training.sim_faults import FAULT_KINDS
from training.simulator import SimConfig, to_frame, write_csv

START = 1_795_442_400_000


def _images(html: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(b) for alt, b in re.findall(r'alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)}


def test_report_on_simulator_csv_via_cli(tmp_path) -> None:
    from deploy.cli import app

    csv = tmp_path / "sim.csv"
    write_csv(SimConfig(devices=4, duration_s=3 * 3600, seed=4, start_ms=START, anomaly_rate=0.2), csv)
    out = tmp_path / "r" / "eda.html"
    res = CliRunner().invoke(app, ["eda", str(csv), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith("eda.html") and out.exists()
    html = out.read_text()
    imgs = _images(html)
    for alt in ("missing values", "histograms", "correlation heatmap", "daily profile and autocorrelation",
                "example series", "peak z by kind", "std ratio by kind"):
        assert alt in imgs and imgs[alt][:8] == b"\x89PNG\r\n\x1a\n", alt
    for kind in FAULT_KINDS:
        assert f"example {kind}" in imgs, kind
        assert f"<td>{kind}</td>" in html
    assert "Per-sensor statistics" in html and "bearing_temp" in html
    assert "http" not in html.split("<body>")[1].split("generated")[0]  # self-contained
    assert "statistics" in res.stderr  # progress lines go to stderr


def test_report_on_real_skab_and_nab(tmp_path) -> None:
    skab = build_report(require_dataset("skab/valve1/1.csv"), tmp_path / "skab.html")
    html = skab.read_text()
    assert "Accelerometer1RMS" in html and "<td>anomaly</td>" in html
    nab = build_report(require_dataset("nab/realKnownCause/nyc_taxi.csv"), tmp_path / "nab.html")
    imgs = _images(nab.read_text())
    assert "correlation heatmap" not in imgs  # one sensor: no heatmap
    assert "daily profile and autocorrelation" in imgs


def test_eda_errors_are_clear(tmp_path) -> None:
    from deploy.cli import app

    res = CliRunner().invoke(app, ["eda", str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_stats_and_patterns_reflect_the_faults() -> None:
    frame = to_frame(SimConfig(devices=4, duration_s=4 * 3600, seed=6, start_ms=START, anomaly_rate=0.2,
                               kinds=("stuck", "spike")), order="event")
    frame = frame.sort_values(["device_id", "ts"]).reset_index(drop=True)
    ds = Dataset(frame, list(SIM_SENSORS), "t")
    st = sensor_stats(ds.frame, ds.sensors).set_index("sensor")
    assert st["longest_flat_run"].max() >= 60  # a stuck sensor: a long flat line
    counts, peak, ratio = anomaly_patterns(ds.frame, ds.sensors)
    assert set(counts.index) == {"stuck", "spike"}
    assert (counts["events"] > 0).all()
    assert ratio.loc["stuck"].min() < -5  # some sensor is much flatter than before
    assert peak.loc["spike"].max() > 10  # spikes are far outside the local noise
    assert isinstance(counts, pd.DataFrame)
