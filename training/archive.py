"""Compaction of the anomaly job's Parquet archive: one file per closed day.

The job's filesystem sink rolls a new Parquet part file at every checkpoint (Flink's rule
for bulk formats), so with 2 s checkpoints a day folder collects ~43,000 small files, and
reading a day back for training opens every one of them. :func:`compact_archive` rewrites
each *closed* day folder (older than ``keep_days`` full UTC days, so no late reading can
still land in it) into a single Parquet file sorted by device and time, and removes the
part files it replaced.

Crash safety: the new file is written hidden (``.compacting-…``, which readers skip), then a
journal ``_compaction.json`` names it and the files it replaces, then it is renamed into
place and the sources are deleted, then the journal. A run that finds a journal finishes
the deletes when the compacted file is in place, or rolls back (drops the hidden file)
when it is not; so a reader never loses rows, and sees duplicates only if it lists the
folder between that rename and the deletes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
JOURNAL = "_compaction.json"


class ArchiveError(ValueError):
    """The archive path is missing or not an archive (message says which)."""


@dataclass
class DayCompaction:
    """What happened to one day folder: ``action`` is ``compacted``, ``would compact``
    (dry run), ``skipped`` (open day, or already one file) or ``recovered`` (a crashed run's
    journal was finished or rolled back first)."""

    day: str
    action: str
    files_in: int
    rows: int = 0
    file_out: str | None = None


def _fs(path: str | Path) -> tuple[Any, str]:
    """A pyarrow file system and the root path in it (local paths or any URI pyarrow knows)."""
    import pyarrow.fs as pafs

    s = str(path)
    if "://" in s:
        return pafs.FileSystem.from_uri(s)
    return pafs.LocalFileSystem(), str(Path(s).resolve())


def _listing(fs: Any, folder: str) -> list[Any]:
    import pyarrow.fs as pafs

    return fs.get_file_info(pafs.FileSelector(folder, recursive=False))


def _recover(fs: Any, folder: str) -> bool:
    """Finish or roll back a crashed compaction of ``folder``; True when there was one."""
    import pyarrow.fs as pafs

    jpath = f"{folder}/{JOURNAL}"
    if fs.get_file_info(jpath).type == pafs.FileType.NotFound:
        return False
    with fs.open_input_stream(jpath) as fh:
        j = json.loads(fh.read())
    if fs.get_file_info(f"{folder}/{j['target']}").type == pafs.FileType.File:
        for name in j["sources"]:  # the compacted file is in place: finish the deletes
            if fs.get_file_info(f"{folder}/{name}").type == pafs.FileType.File:
                fs.delete_file(f"{folder}/{name}")
    elif fs.get_file_info(f"{folder}/{j['tmp']}").type == pafs.FileType.File:
        fs.delete_file(f"{folder}/{j['tmp']}")  # never renamed: the sources are intact
    fs.delete_file(jpath)
    return True


def _compact_day(fs: Any, folder: str, parts: list[str]) -> tuple[int, str]:
    """Rewrite ``parts`` of ``folder`` as one sorted file; returns (rows, new file name)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(f"{folder}/{name}", filesystem=fs) for name in parts]
    table = pa.concat_tables(tables, promote_options="default")
    if {"device_id", "ts"} <= set(table.column_names):
        table = table.sort_by([("device_id", "ascending"), ("ts", "ascending")])
    token = uuid.uuid4().hex[:12]
    tmp, target = f".compacting-{token}.parquet", f"part-compacted-{token}.parquet"
    pq.write_table(table, f"{folder}/{tmp}", filesystem=fs, compression="snappy")
    written = pq.read_metadata(f"{folder}/{tmp}", filesystem=fs).num_rows
    if written != table.num_rows:  # never delete sources for a short file
        fs.delete_file(f"{folder}/{tmp}")
        raise ArchiveError(f"{folder}: wrote {written} rows of {table.num_rows}; sources kept")
    with fs.open_output_stream(f"{folder}/{JOURNAL}") as fh:
        fh.write(json.dumps({"tmp": tmp, "target": target, "sources": parts}).encode())
    fs.move(f"{folder}/{tmp}", f"{folder}/{target}")
    for name in parts:
        fs.delete_file(f"{folder}/{name}")
    fs.delete_file(f"{folder}/{JOURNAL}")
    return table.num_rows, target


def compact_archive(path: str | Path, *, keep_days: int = 1, today: date | None = None,
                    dry_run: bool = False,
                    progress: Callable[[DayCompaction], None] | None = None) -> list[DayCompaction]:
    """Compact every closed ``day=YYYY-MM-DD`` folder of the archive at ``path`` into one file.

    A day is closed when it is more than ``keep_days`` full days before ``today`` (UTC;
    default: now): with the default 1, today's and yesterday's folders are left alone, so
    readings still arriving within the job's allowed lateness never race the compaction.
    Files whose name starts with ``.`` or ``_`` (Flink's in-progress files) are not touched.
    Raises :class:`ArchiveError` when ``path`` does not exist or holds no day folders.

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> root = Path(tempfile.mkdtemp()); day = root / "day=2026-11-20"; day.mkdir()
    >>> for i in range(3):  # three checkpoints' part files
    ...     pq.write_table(pa.table({"device_id": ["d"], "ts": [3 - i], "values_json": ["{}"]}),
    ...                    day / f"part-0-{i}")
    >>> [(r.action, r.files_in, r.rows) for r in compact_archive(root, today=date(2026, 11, 23))]
    [('compacted', 3, 3)]
    >>> [p.name.startswith("part-compacted-") for p in day.iterdir()]
    [True]
    >>> pq.read_table(next(day.iterdir())).column("ts").to_pylist()
    [1, 2, 3]
    """
    import pyarrow.fs as pafs

    fs, root = _fs(path)
    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        raise ArchiveError(f"{path}: no archive folder there")
    days = sorted((m.group(1), e.path) for e in _listing(fs, root)
                  if e.type == pafs.FileType.Directory and (m := _DAY.match(e.base_name)))
    if not days:
        raise ArchiveError(f"{path}: no day=YYYY-MM-DD folders (is this the job's --archive-path?)")
    last_closed = (today or datetime.now(timezone.utc).date()) - timedelta(days=keep_days + 1)
    out: list[DayCompaction] = []
    for day, folder in days:
        recovered = not dry_run and _recover(fs, folder)
        parts = sorted(e.base_name for e in _listing(fs, folder) if e.type == pafs.FileType.File
                       and not e.base_name.startswith((".", "_")))
        if date.fromisoformat(day) > last_closed or len(parts) <= 1:
            r = DayCompaction(day, "recovered" if recovered else "skipped", len(parts))
        elif dry_run:
            r = DayCompaction(day, "would compact", len(parts))
        else:
            rows, name = _compact_day(fs, folder, parts)
            r = DayCompaction(day, "compacted", len(parts), rows, name)
        out.append(r)
        if progress:
            progress(r)
    return out


__all__ = ["ArchiveError", "DayCompaction", "compact_archive"]
