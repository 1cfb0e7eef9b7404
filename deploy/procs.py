"""Start, recognise and stop the stack's own processes, never anything else.

A started process gets its own session (it survives the CLI) and a pid record
``<state>/run/<name>.json`` holding pid, process start time (from ``/proc/<pid>/stat``) and a
token that must appear in its command line. A pid counts as *ours* only when all three still
match, so a recycled pid is never signalled. Stopping signals the process group the launcher
created (``start_new_session``), which also takes the Python workers Flink spawned.

>>> rec = PidRecord(name="x", pid=1, start_ticks=0, token="nothing-matches-this", log="/dev/null")
>>> rec.is_ours()
False
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3, state, first), or None
    when the pid does not exist. The name (field 2) may contain spaces and parentheses, so the
    split starts after its closing parenthesis."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot, or None when the pid does not exist."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])  # field 22 overall


def group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid``. Every service the launcher starts leads its own group,
    so a service's group holds it and its children (e.g. a TaskManager's Python workers)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            fields = _stat(int(p.name))
            if fields is not None and int(fields[2]) == pgid:  # field 5 overall: pgrp
                out.append(int(p.name))
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far, in seconds (None when it does not exist)."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14, 15 overall


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (None when it does not exist)."""
    fields = _stat(pid)
    return None if fields is None else int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24 overall


def thread_cpu_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every thread of ``pid``: tid → (thread name, seconds). Flink names
    a task's thread after its operator chain (truncated to 15 characters by the kernel)."""
    out: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for t in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (t / "stat").read_text()
            name = (t / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        f = stat[stat.rindex(")") + 2:].split()
        out[int(t.name)] = (name, (int(f[11]) + int(f[12])) / tick)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _is_zombie(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


@dataclass
class PidRecord:
    """What the launcher remembers about one process it started."""

    name: str
    pid: int
    start_ticks: int
    token: str
    log: str
    cmd: str = ""

    def is_ours(self) -> bool:
        """True when the pid is alive, was started when we recorded it, and runs our command
        (the token, or still the exact launch command while a wrapper script execs the JVM)."""
        ticks = _start_ticks(self.pid)
        if ticks is None or ticks != self.start_ticks or _is_zombie(self.pid):
            return False
        cmdline = _cmdline(self.pid)
        return self.token in cmdline or (bool(self.cmd) and cmdline.strip() == self.cmd)


class ProcessRegistry:
    """Pid records of one state folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def _path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def get(self, name: str) -> PidRecord | None:
        """The record of ``name`` when its process is still ours, else None (stale records are removed)."""
        path = self._path(name)
        if not path.exists():
            return None
        try:
            rec = PidRecord(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)
            return None
        if not rec.is_ours():
            path.unlink(missing_ok=True)
            return None
        return rec

    def start(
        self, name: str, argv: list[str], *, log: Path, token: str, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> PidRecord:
        """Start ``argv`` detached (own session), output appended to ``log``; record its pid."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            out.write(f"\n=== vigil stack: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            out.flush()
            proc = subprocess.Popen(  # noqa: S603 - argv is built by the launcher, not a shell
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=cwd, close_fds=True,
            )
        ticks = _start_ticks(proc.pid) or 0
        # Until the child has exec'd, its cmdline is the forked python's (or empty): wait so
        # that the record's command-line check holds from the first look.
        cmd = " ".join(argv)
        deadline = time.monotonic() + 10.0
        while proc.poll() is None and time.monotonic() < deadline:
            current = _cmdline(proc.pid).strip()
            if current == cmd or token in current:
                break
            time.sleep(0.01)
        rec = PidRecord(name=name, pid=proc.pid, start_ticks=ticks, token=token, log=str(log), cmd=cmd)
        self._path(name).write_text(json.dumps(asdict(rec)))
        # The Popen object is dropped on purpose: the process must outlive this CLI.
        proc.returncode = 0  # keep Popen.__del__ from warning about a "still running" child
        return rec

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group of ``name`` (SIGKILL after ``timeout_s``). True if it was running."""
        rec = self.get(name)
        if rec is None:
            self._path(name).unlink(missing_ok=True)
            return False
        try:
            os.killpg(rec.pid, signal.SIGTERM)  # pgid == pid: start_new_session made it a group leader
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and rec.is_ours():
            _reap(rec.pid)
            time.sleep(0.2)
        if rec.is_ours():
            try:
                os.killpg(rec.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            time.sleep(0.5)
        # Leftover group members (e.g. a python worker that ignored SIGTERM).
        try:
            os.killpg(rec.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _reap(rec.pid)
        self._path(name).unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (same CLI run)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(path: Path | str, lines: int = 30) -> str:
    """Last ``lines`` lines of a text file ('' when missing)."""
    p = Path(path)
    if not p.exists():
        return ""
    with open(p, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64_000))
        data = f.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])
