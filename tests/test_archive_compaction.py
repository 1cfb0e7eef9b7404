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


def test_closed_days_become_one_file_with_the_same_readings(tmp_path) -> None:
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
    assert list(out.columns) == ["device_id", "ts", "values_json"] and len(out) == 20
    assert load_dataset(tmp_path).fmt == "archive"  # still read as the job's archive
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


class Crash(BaseException):
    """A process death at a chosen step (BaseException: no ``except Exception`` cleans up)."""


def _crash_at(monkeypatch, op: str, n: int, after: bool) -> None:
    """Make the ``n``-th call of the archive's ``_move``/``_delete`` step kill the run (after
    doing its work when ``after`` is set)."""
    import training.archive as arch

    real = getattr(arch, op)
    left = [n]

    def step(*a):  # noqa: ANN002, ANN202
        left[0] -= 1
        if left[0] == 0 and not after:
            raise Crash(op)
        real(*a)
        if left[0] == 0:
            raise Crash(op)
    monkeypatch.setattr(arch, op, step)


@pytest.mark.parametrize("op,n,after", [
    ("_move", 1, False),     # dies before the journal is in place
    ("_move", 2, False),     # journal in place, hidden output written, dies before the rename
    ("_move", 2, True),      # renamed, no source deleted yet
    ("_delete", 2, True),    # renamed, two sources deleted
    ("_delete", 3, True),    # every source deleted, journal still there
])
def test_a_run_killed_at_any_step_is_finished_or_rolled_back(tmp_path, monkeypatch, op, n, after) -> None:
    _archive(tmp_path, {"2026-11-20": 3})
    day = tmp_path / "day=2026-11-20"
    before = _frame(tmp_path)
    with monkeypatch.context() as m:
        _crash_at(m, op, n, after)
        with pytest.raises(Crash):
            compact_archive(tmp_path, today=TODAY)
    def rows(df: pd.DataFrame) -> set:
        return set(map(tuple, df.fillna(-1.0).itertuples(index=False)))
    # a reader meanwhile never misses a row (between rename and deletes it may see some twice)
    assert rows(_frame(tmp_path)) == rows(before)
    res = compact_archive(tmp_path, today=TODAY)
    assert res[0].action in ("compacted", "recovered")
    assert [f for f in _files(day) if not f.startswith(".part-inprogress")] == \
        [f for f in _files(day) if f.startswith("part-compacted-")]  # no journal, no hidden output
    assert len(list(day.glob("part-compacted-*"))) == 1
    pd.testing.assert_frame_equal(_frame(tmp_path), before)


def test_unreadable_journal_and_stray_outputs_are_rolled_back(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-20": 3, "2026-11-21": 2})
    before = _frame(tmp_path)
    (tmp_path / "day=2026-11-20" / JOURNAL).write_text("")  # died while writing it (older versions)
    (tmp_path / "day=2026-11-20" / ".compacting-abc").write_bytes(b"PAR1 half")
    (tmp_path / "day=2026-11-21" / ".compacting-def").write_bytes(b"PAR1 half")  # no journal at all
    res = compact_archive(tmp_path, today=TODAY)
    assert [(r.action, r.files_in) for r in res] == [("compacted", 3), ("compacted", 2)]
    for d in tmp_path.iterdir():
        if d.is_dir():
            assert [f for f in _files(d) if not f.startswith(".part-inprogress")] == \
                [p.name for p in d.glob("part-compacted-*")]
    pd.testing.assert_frame_equal(_frame(tmp_path), before)


def test_a_schema_that_does_not_merge_is_refused_and_rolled_back(tmp_path) -> None:
    _archive(tmp_path, {"2026-11-20": 2})
    day = tmp_path / "day=2026-11-20"
    pq.write_table(pa.table({"device_id": ["x"], "ts": ["not a time"], "values_json": ["{}"]}), day / "part-9999-0")
    listing = _files(day)
    with pytest.raises(ArchiveError, match="differs from the day's first file"):
        compact_archive(tmp_path, today=TODAY)
    assert _files(day) == listing  # rolled back at once: sources kept, no journal


def test_a_second_local_run_is_refused_while_one_holds_the_lock(tmp_path) -> None:
    import fcntl

    from training.archive import LOCK

    _archive(tmp_path, {"2026-11-20": 2})
    with open(tmp_path / LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(ArchiveError, match="another compaction is running"):
            compact_archive(tmp_path, today=TODAY)
    assert compact_archive(tmp_path, today=TODAY)[0].action == "compacted"


def test_errors_and_the_cli(tmp_path) -> None:
    from deploy.cli import app

    with pytest.raises(ArchiveError, match="no archive folder"):
        compact_archive(tmp_path / "missing")
    assert compact_archive(tmp_path) == []  # an archive the job has not written to yet
    r = CliRunner().invoke(app, ["archive", "compact", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no archive folder" in r.output
    r = CliRunner().invoke(app, ["archive", "compact", str(tmp_path)])
    assert r.exit_code == 0 and json.loads(r.stdout.strip().splitlines()[-1])["days"] == 0
    _archive(tmp_path / "a", {"2020-01-01": 2, "2020-01-02": 3})
    (tmp_path / "a" / "day=2020-02-30").mkdir()  # not a date: not a day folder
    r = CliRunner().invoke(app, ["archive", "compact", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"days": 2, "compacted": 2, "files_removed": 5,
                                                              "rows": 25}
