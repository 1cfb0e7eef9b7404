"""Compaction of the anomaly job's Parquet archive: one file per closed day.

The job's filesystem sink rolls a new Parquet part file at every checkpoint (Flink's rule
for bulk formats), so with 2 s checkpoints a day folder collects ~43,000 small files, and
reading a day back for training opens every one of them. :func:`compact_archive` rewrites
each *closed* day folder (older than ``keep_days`` full UTC days: the job is done writing
it) into a single Parquet file and removes the part files it replaced. The archive takes
readings before any lateness check, so a very late reading can still land in a compacted
day as a new part file; the next run merges it in.

Memory: the output is streamed (one source file and one ~256k-row batch in memory at a
time), so a day of any size fits; rows keep the order of the source files.

Crash safety (every step is a single file operation, so an interrupted run leaves one of a
few states, all handled by the next run):

1. a journal ``_compaction.json`` naming the hidden output (``.compacting-…``, which readers
   skip), the final name and the sources is written under a temporary name and moved into
   place;
2. the hidden output is written and its row count checked against the sources';
3. it is moved to its final ``part-compacted-…`` name (on object stores a copy + delete);
4. the sources are deleted, then the hidden output if a copy left it, then the journal.

The next run rolls back (deletes the hidden output, keeps the sources) when the final file
is not there, finishes the deletes when it is, treats an unreadable journal as a roll back,
and removes stray ``.compacting-…`` files. Readers never lose rows; run compaction and
readers one after the other (the K8s CronJob compacts, then retrains), because a reader
that lists a day folder during step 4 can find a listed file gone or read a day twice.
Local archives are locked (``_compaction.lock``) so two runs cannot overlap; for object
stores, schedule one run at a time.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
JOURNAL = "_compaction.json"
LOCK = "_compaction.lock"
_HIDDEN_OUT = ".compacting-"
BATCH_ROWS = 256_000  # rows per output row group: bounded memory, few row groups


class ArchiveError(ValueError):
    """The archive cannot be compacted as asked (message says why)."""


@dataclass
class DayCompaction:
    """What happened to one day folder: ``action`` is ``compacted``, ``would compact``
    (dry run), ``skipped`` (open day, or already one file) or ``recovered`` (an interrupted
    run was finished or rolled back, and nothing more was needed)."""

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


def _names(fs: Any, folder: str) -> list[str]:
    """File names directly in ``folder``."""
    import pyarrow.fs as pafs

    return sorted(e.base_name for e in fs.get_file_info(pafs.FileSelector(folder, recursive=False))
                  if e.type == pafs.FileType.File)


def _move(fs: Any, src: str, dst: str) -> None:
    """One step of the protocol (a seam for the crash tests)."""
    fs.move(src, dst)


def _delete(fs: Any, path: str) -> None:
    """One step of the protocol (a seam for the crash tests)."""
    fs.delete_file(path)


def _delete_if_there(fs: Any, path: str) -> None:
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type == pafs.FileType.File:
        _delete(fs, path)


def _write_journal(fs: Any, folder: str, journal: dict[str, Any]) -> None:
    """Write the journal whole or not at all (temporary name, then move)."""
    tmp = f"{folder}/{JOURNAL}.tmp"
    with fs.open_output_stream(tmp) as fh:
        fh.write(json.dumps(journal).encode())
    _move(fs, tmp, f"{folder}/{JOURNAL}")


def _recover(fs: Any, folder: str) -> bool:
    """Finish or roll back an interrupted compaction of ``folder``; True when there was one."""
    names = set(_names(fs, folder))
    stray = [n for n in names if n.startswith(_HIDDEN_OUT) or n == f"{JOURNAL}.tmp"]
    if JOURNAL not in names:
        for n in stray:  # hidden leftovers without a journal never replaced anything
            _delete(fs, f"{folder}/{n}")
        return bool(stray)
    try:
        with fs.open_input_stream(f"{folder}/{JOURNAL}") as fh:
            j = json.loads(fh.read())
        target, sources = str(j["target"]), [str(s) for s in j["sources"]]
    except (ValueError, KeyError, TypeError):
        target, sources = None, []  # unreadable: nothing was moved yet, so roll back
    if target is not None and target in names:
        for name in sources:  # the compacted file is in place: finish the deletes
            _delete_if_there(fs, f"{folder}/{name}")
    for n in stray:
        _delete(fs, f"{folder}/{n}")
    _delete(fs, f"{folder}/{JOURNAL}")
    return True


def _batches(fs: Any, folder: str, parts: list[str]) -> Iterator[Any]:
    """The rows of ``parts`` as tables of about BATCH_ROWS rows, one source file in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf: list[Any] = []
    n = 0
    schema = None
    for name in parts:
        t = pq.read_table(f"{folder}/{name}", filesystem=fs)
        if schema is None:
            schema = t.schema
        elif not t.schema.equals(schema):
            try:
                t = t.select(schema.names).cast(schema)
            except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
                raise ArchiveError(f"{folder}/{name}: schema {t.schema} differs from the day's "
                                   f"first file ({schema}): {e}") from None
        buf.append(t)
        n += t.num_rows
        if n >= BATCH_ROWS:
            yield pa.concat_tables(buf)
            buf, n = [], 0
    if buf:
        yield pa.concat_tables(buf)


def _compact_day(fs: Any, folder: str, parts: list[str]) -> tuple[int, str]:
    """Rewrite ``parts`` of ``folder`` as one file (steps 1-4 of the module doc); returns
    (rows, new file name)."""
    import pyarrow.parquet as pq

    token = uuid.uuid4().hex[:12]
    # no ".parquet" suffix, like Flink's own part files: the loader keeps seeing an archive
    tmp, target = f"{_HIDDEN_OUT}{token}", f"part-compacted-{token}"
    _write_journal(fs, folder, {"tmp": tmp, "target": target, "sources": parts})
    try:
        rows_in, writer = 0, None
        try:
            for batch in _batches(fs, folder, parts):
                if writer is None:
                    writer = pq.ParquetWriter(f"{folder}/{tmp}", batch.schema, filesystem=fs,
                                              compression="snappy")
                writer.write_table(batch, row_group_size=BATCH_ROWS)
                rows_in += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        written = pq.read_metadata(f"{folder}/{tmp}", filesystem=fs).num_rows
        if written != rows_in:  # never delete sources for a short file
            raise ArchiveError(f"{folder}: wrote {written} rows of {rows_in}; sources kept")
    except Exception:
        _recover(fs, folder)  # nothing moved yet: roll back now rather than on the next run
        raise
    _move(fs, f"{folder}/{tmp}", f"{folder}/{target}")
    for name in parts:
        _delete(fs, f"{folder}/{name}")
    _delete_if_there(fs, f"{folder}/{tmp}")
    _delete(fs, f"{folder}/{JOURNAL}")
    return written, target


@contextlib.contextmanager
def _lock(fs: Any, root: str) -> Iterator[None]:
    """An exclusive lock on a local archive (released when the process ends, even on a
    crash); a no-op for other file systems."""
    import fcntl

    import pyarrow.fs as pafs

    if not isinstance(fs, pafs.LocalFileSystem):
        yield
        return
    with open(Path(root) / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveError(f"{root}: another compaction is running ({LOCK} is locked)") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _days(fs: Any, root: str) -> list[tuple[str, str]]:
    """``(YYYY-MM-DD, folder)`` of the archive's day folders (names that are not real dates
    are not day folders)."""
    import pyarrow.fs as pafs

    out = []
    for e in fs.get_file_info(pafs.FileSelector(root, recursive=False)):
        m = _DAY.match(e.base_name) if e.type == pafs.FileType.Directory else None
        if m:
            try:
                date.fromisoformat(m.group(1))
            except ValueError:
                continue
            out.append((m.group(1), e.path))
    return sorted(out)


def compact_archive(path: str | Path, *, keep_days: int = 1, today: date | None = None,
                    dry_run: bool = False,
                    progress: Callable[[DayCompaction], None] | None = None) -> list[DayCompaction]:
    """Compact every closed ``day=YYYY-MM-DD`` folder of the archive at ``path`` into one file.

    A day is closed when it is more than ``keep_days`` full days before ``today`` (UTC;
    default: now): with the default 1, today's and yesterday's folders, which the job is
    still writing, are left alone. Files whose name starts with ``.`` or ``_`` (Flink's
    in-progress files) are not touched. An archive without day folders yet has nothing to
    do (empty result). Raises :class:`ArchiveError` when ``path`` does not exist, another
    local run holds the lock, or a day's files cannot be merged (schemas that do not cast).

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> root = Path(tempfile.mkdtemp()); day = root / "day=2026-11-20"; day.mkdir()
    >>> for i in range(3):  # three checkpoints' part files
    ...     pq.write_table(pa.table({"device_id": ["d"], "ts": [i], "values_json": ["{}"]}),
    ...                    day / f"part-0-{i}")
    >>> [(r.action, r.files_in, r.rows) for r in compact_archive(root, today=date(2026, 11, 23))]
    [('compacted', 3, 3)]
    >>> [p.name.startswith("part-compacted-") for p in day.iterdir()]
    [True]
    >>> pq.read_table(next(day.iterdir())).column("ts").to_pylist()
    [0, 1, 2]
    """
    import pyarrow as pa
    import pyarrow.fs as pafs

    fs, root = _fs(path)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        raise ArchiveError(f"{path}: no archive folder there")
    last_closed = (today or datetime.now(timezone.utc).date()) - timedelta(days=keep_days + 1)
    out: list[DayCompaction] = []
    with _lock(fs, root):
        for day, folder in _days(fs, root):
            recovered = not dry_run and _recover(fs, folder)
            parts = [n for n in _names(fs, folder) if not n.startswith((".", "_"))]
            if date.fromisoformat(day) > last_closed or len(parts) <= 1:
                r = DayCompaction(day, "recovered" if recovered else "skipped", len(parts))
            elif dry_run:
                r = DayCompaction(day, "would compact", len(parts))
            else:
                try:
                    rows, name = _compact_day(fs, folder, parts)
                except (pa.ArrowInvalid, OSError) as e:
                    raise ArchiveError(f"{folder}: {e} (the next run rolls this day back)") from None
                r = DayCompaction(day, "compacted", len(parts), rows, name)
            out.append(r)
            if progress:
                progress(r)
    return out


__all__ = ["ArchiveError", "DayCompaction", "compact_archive"]
