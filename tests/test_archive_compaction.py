"""`vigil archive compact`: closed days become one file, nothing is lost or duplicated, a
crashed run is finished or rolled back, open days and in-progress files are left alone.
(The job writing a real archive that is then compacted: tests/e2e/test_job_archive_e2e.py.)"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from training.archive import JOURNAL, ArchiveError, compact_archive
from training.data import load_dataset

TODAY = date(2026, 11, 30)


def _archive(root: Path, days: dict[str, int], per_file: int = 5) -> None:
    """Flink-shaped archive: ``day=…/part-<n>-0`` files (no suffix), one per 'checkpoint'."""
    t = 0
    for day, files in days.items():
        d = root / f"day={day}"
        d.mkdir(parents=True)
        for i in range(files):
            rows = [{"device_id": f"dev-{(t + k) % 3}", "ts": 1_795_000_000_000 + (t + k) * 1000,
                     "values_json": json.dumps({"a": float(t + k), "b": None if k == 2 else 1.5})}
                    for k in range(per_file)]
            t += per_file
            pq.write_table(pa.Table.from_pylist(rows), d / f"part-{i:04d}-0")
        (d / ".part-inprogress-0").write_bytes(b"not yet committed")


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def _frame(root: Path) -> pd.DataFrame:
    return load_dataset(root).frame


def test_closed_days_become_one_sorted_file_with_the_same_readings(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-26": 4, "2026-11-27": 1, "2026-11-28": 3, "2026-11-29": 2, "2026-11-30": 2})
    before = _frame(tmp_path)
    res = {r.day: (r.action, r.files_in, r.rows) for r in compact_archive(tmp_path, today=TODAY)}
    assert res == {"2026-11-26": ("compacted", 4, 20), "2026-11-27": ("skipped", 1, 0),
                   "2026-11-28": ("compacted", 3, 15),
                   "2026-11-29": ("skipped", 2, 0), "2026-11-30": ("skipped", 2, 0)}  # keep_days=1
    pd.testing.assert_frame_equal(_frame(tmp_path), before)
    for day, n in [("2026-11-26", 1), ("2026-11-28", 1), ("2026-11-29", 2)]:
        names = [f for f in _files(tmp_path / f"day={day}") if not f.startswith(".")]
        assert len(names) == n, names
    assert ".part-inprogress-0" in _files(tmp_path / "day=2026-11-26")  # never touched
    out = pq.read_table(next((tmp_path / "day=2026-11-26").glob("part-compacted-*"))).to_pandas()
    assert list(out.columns) == ["device_id", "ts", "values_json"]
    assert out.equals(out.sort_values(["device_id", "ts"]).reset_index(drop=True))
    # idempotent: a second run finds nothing to do
    assert {r.action for r in compact_archive(tmp_path, today=TODAY)} == {"skipped"}
    assert {r.action for r in compact_archive(tmp_path, today=TODAY, keep_days=0)} >= {"compacted"}
    assert len([f for f in _files(tmp_path / "day=2026-11-29") if not f.startswith(".")]) == 1


def test_dry_run_changes_nothing(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-20": 3})
    before = _files(tmp_path / "day=2026-11-20")
    res = compact_archive(tmp_path, today=TODAY, dry_run=True)
    assert [(r.action, r.files_in) for r in res] == [("would compact", 3)]
    assert _files(tmp_path / "day=2026-11-20") == before


def test_crash_after_the_rename_is_finished(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-20": 3})
    day = tmp_path / "day=2026-11-20"
    before = _frame(tmp_path)
    parts = sorted(p.name for p in day.glob("part-*"))
    # state right after the rename: compacted file in place, journal, sources not yet deleted
    table = pa.concat_tables([pq.read_table(day / p) for p in parts])
    pq.write_table(table, day / "part-compacted-x.parquet")
    (day / JOURNAL).write_text(json.dumps({"tmp": ".compacting-x.parquet", "target": "part-compacted-x.parquet",
                                           "sources": parts}))
    (day / parts[0]).unlink()  # one source already deleted when it crashed
    res = compact_archive(tmp_path, today=TODAY)
    assert [(r.action, r.files_in) for r in res] == [("recovered", 1)]
    assert [f for f in _files(day) if not f.startswith(".")] == ["part-compacted-x.parquet"]
    pd.testing.assert_frame_equal(_frame(tmp_path), before)


def test_crash_before_the_rename_is_rolled_back(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-20": 3})
    day = tmp_path / "day=2026-11-20"
    before, listing = _frame(tmp_path), _files(day)
    parts = sorted(p.name for p in day.glob("part-*"))
    pq.write_table(pq.read_table(day / parts[0]), day / ".compacting-y.parquet")  # half-done output
    (day / JOURNAL).write_text(json.dumps({"tmp": ".compacting-y.parquet", "target": "part-compacted-y.parquet",
                                           "sources": parts}))
    res = compact_archive(tmp_path, today=TODAY)
    assert res[0].action == "compacted" and res[0].files_in == 3  # rolled back, then done properly
    assert not (day / ".compacting-y.parquet").exists() and not (day / JOURNAL).exists()
    assert len([f for f in _files(day) if not f.startswith(".")]) == 1 and len(listing) == 4
    pd.testing.assert_frame_equal(_frame(tmp_path), before)


def test_errors_and_the_cli(tmp_path) -> None:
    from deploy.cli import app

    with pytest.raises(ArchiveError, match="no archive folder"):
        compact_archive(tmp_path / "missing")
    with pytest.raises(ArchiveError, match="no day=YYYY-MM-DD folders"):
        compact_archive(tmp_path)
    r = CliRunner().invoke(app, ["archive", "compact", str(tmp_path)])
    assert r.exit_code == 2 and "no day=YYYY-MM-DD folders" in r.output
    _archive(tmp_path / "a", {"2020-01-01": 2, "2020-01-02": 3})
    r = CliRunner().invoke(app, ["archive", "compact", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"days": 2, "compacted": 2, "files_removed": 5,
                                                              "rows": 25}
