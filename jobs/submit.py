"""Submit PyFlink jobs to the stack's Flink cluster and manage them (list / cancel / stop).

Submission goes through the wheel's ``flink run -d -pyexec <venv python> -pyclientexec <venv
python> -py <job file> [args]`` (the Kafka connector is already on the cluster's and the
client's classpath via the stack's lib folder). Everything else uses the Flink REST API.

Jobs are named: ``passthrough`` → ``jobs/passthrough_job.py``, ``anomaly`` →
``jobs/anomaly_job.py``; any other ``NAME`` resolves to ``jobs/NAME_job.py``, and a path to a
``.py`` file is used as is.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.settings import REPO_ROOT
from deploy.stack import Stack, flink_bin

JOBS_DIR = REPO_ROOT / "jobs"
_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
TERMINAL_STATES = {"FINISHED", "CANCELED", "FAILED", "SUSPENDED"}


class SubmitError(RuntimeError):
    """`flink run` failed or printed no job id; the message carries its output."""


@dataclass
class SubmittedJob:
    """Result of :func:`submit`."""

    job_id: str
    ui_url: str
    job_file: Path
    output: str


def job_file(job: str) -> Path:
    """Resolve a job name (``passthrough``, ``anomaly``, ``foo`` → jobs/foo_job.py) or a path.

    >>> job_file("passthrough").name
    'passthrough_job.py'
    """
    p = Path(job)
    if p.suffix == ".py":
        if not p.exists():
            raise FileNotFoundError(f"job file {p} does not exist")
        return p.resolve()
    f = JOBS_DIR / f"{job}_job.py"
    if not f.exists():
        known = sorted(x.stem.removesuffix("_job") for x in JOBS_DIR.glob("*_job.py"))
        raise FileNotFoundError(f"no job {job!r} ({f} missing); known jobs: {', '.join(known)}")
    return f


def submit(
    job: str = "passthrough", job_args: list[str] | None = None, *, stack: Stack | None = None,
    parallelism: int | None = None, from_savepoint: str | None = None,
    allow_non_restored_state: bool = False, extra_jars: list[Path] | None = None,
    timeout_s: float = 300.0,
) -> SubmittedJob:
    """Submit ``job`` detached; returns its job id. Raises :class:`SubmitError` with the CLI output."""
    stack = stack or Stack()
    py = stack.settings.python
    f = job_file(job)
    cmd = [str(flink_bin("flink")), "run", "-d", "-m", f"{stack.settings.host}:{stack.settings.flink_rest_port}"]
    if parallelism:
        cmd += ["-p", str(parallelism)]
    if from_savepoint:
        cmd += ["-s", from_savepoint]
        if allow_non_restored_state:
            cmd.append("-n")
    for jar in extra_jars or []:
        cmd += ["-j", Path(jar).resolve().as_uri()]
    cmd += ["-pyexec", py, "-pyclientexec", py, "-py", str(f)]
    cmd += list(job_args or [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=stack.flink_env(),  # noqa: S603
                          cwd=REPO_ROOT, timeout=timeout_s)
    out = proc.stdout + proc.stderr
    m = _JOB_ID.search(out)
    if proc.returncode != 0 or not m:
        raise SubmitError(f"flink run failed (exit {proc.returncode}): {' '.join(cmd)}\n{out[-6000:]}")
    return SubmittedJob(m.group(1), f"{stack.flink_rest_url}/#/job/running/{m.group(1)}", f, out)


def _client(stack: Stack | None) -> tuple[httpx.Client, Stack]:
    stack = stack or Stack()
    return httpx.Client(base_url=stack.flink_rest_url, timeout=10.0), stack


def list_jobs(stack: Stack | None = None) -> list[dict]:
    """Jobs known to the cluster (``/jobs/overview``): jid, name, state, start-time, duration ..."""
    client, _ = _client(stack)
    with client:
        r = client.get("/jobs/overview")
        r.raise_for_status()
        return sorted(r.json()["jobs"], key=lambda j: j.get("start-time", 0), reverse=True)


def resolve_job_id(prefix: str, stack: Stack | None = None) -> str:
    """A full job id from a unique prefix of one."""
    if re.fullmatch(r"[0-9a-f]{32}", prefix):
        return prefix
    matches = [j["jid"] for j in list_jobs(stack) if j["jid"].startswith(prefix)]
    if len(matches) != 1:
        raise ValueError(f"job id prefix {prefix!r} matches {len(matches)} jobs")
    return matches[0]


def job_state(job_id: str, stack: Stack | None = None) -> str:
    """Current state of a job (RUNNING, FINISHED, FAILED ...)."""
    client, _ = _client(stack)
    with client:
        r = client.get(f"/jobs/{job_id}")
        r.raise_for_status()
        return r.json()["state"]


def job_failures(job_id: str, stack: Stack | None = None) -> list[str]:
    """Exceptions the job has hit so far (newest first; first lines of each stack trace)."""
    client, _ = _client(stack)
    with client:
        r = client.get(f"/jobs/{job_id}/exceptions")
        if r.status_code != 200:
            return []
        entries = r.json().get("exceptionHistory", {}).get("entries", [])
    out = []
    for e in entries:
        lines = e.get("stacktrace", "").splitlines()
        causes = [ln for ln in lines if ln.startswith("Caused by:")]
        out.append("\n".join(lines[:1] + causes[-2:]))
    return out


class JobFailedError(RuntimeError):
    """The job keeps failing (restarts) or ended FAILED; the message carries its exceptions."""


def wait_for_state(job_id: str, states: set[str] | str, timeout_s: float = 120.0,
                   stack: Stack | None = None, max_failures: int | None = 3) -> str:
    """Poll until the job reaches one of ``states`` (or a terminal state); returns the state.

    For ``RUNNING`` it also waits until every task is running (not only scheduled), so
    records flow when it returns. Raises :class:`JobFailedError` (with the job's exceptions)
    once it has failed more than ``max_failures`` times (Flink restarts a failing job forever
    by default), TimeoutError naming the last state and exception otherwise.
    """
    want = {states} if isinstance(states, str) else set(states)
    client, _ = _client(stack)
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    last_check = 0.0
    with client:
        while time.monotonic() < deadline:
            r = client.get(f"/jobs/{job_id}")
            if r.status_code == 200:
                body = r.json()
                state = body["state"]
                tasks_running = all(v.get("status") == "RUNNING" for v in body.get("vertices", []))
                if state in want and (state != "RUNNING" or tasks_running):
                    return state
                if state in TERMINAL_STATES and state not in want:
                    return state
            if max_failures is not None and time.monotonic() - last_check > 5:
                last_check = time.monotonic()
                failures = job_failures(job_id, stack)
                if len(failures) > max_failures:
                    raise JobFailedError(f"job {job_id} failed {len(failures)} times; latest:\n{failures[0]}")
            time.sleep(0.5)
    failures = job_failures(job_id, stack)
    hint = f"; latest exception:\n{failures[0]}" if failures else ""
    raise TimeoutError(f"job {job_id} not in {sorted(want)} after {timeout_s:.0f} s (last: {state}){hint}")


def cancel(job_id: str, stack: Stack | None = None) -> None:
    """Cancel a job (no savepoint)."""
    client, stack = _client(stack)
    with client:
        r = client.patch(f"/jobs/{resolve_job_id(job_id, stack)}", params={"mode": "cancel"})
        if r.status_code not in (200, 202):
            raise RuntimeError(f"cancel failed: HTTP {r.status_code} {r.text}")


def stop_with_savepoint(job_id: str, savepoint_dir: str | Path | None = None, *, drain: bool = False,
                        timeout_s: float = 180.0, stack: Stack | None = None) -> str:
    """Stop a job with a savepoint (``flink stop``); returns the savepoint location.

    ``savepoint_dir`` defaults to the cluster's ``execution.checkpointing.savepoint-dir``
    (``<state>/flink/savepoints`` on the local stack).
    """
    client, stack = _client(stack)
    jid = resolve_job_id(job_id, stack)
    target = savepoint_dir or (stack.state_dir / "flink" / "savepoints")
    target_uri = Path(target).resolve().as_uri() if "://" not in str(target) else str(target)
    with client:
        r = client.post(f"/jobs/{jid}/stop", json={"targetDirectory": target_uri, "drain": drain})
        if r.status_code != 202:
            raise RuntimeError(f"stop failed: HTTP {r.status_code} {r.text}")
        trigger = r.json()["request-id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            s = client.get(f"/jobs/{jid}/savepoints/{trigger}").json()
            if s.get("status", {}).get("id") == "COMPLETED":
                op = s.get("operation", {})
                if "failure-cause" in op:
                    raise RuntimeError(f"savepoint failed: {op['failure-cause'].get('stack-trace', op)[:3000]}")
                return op["location"]
            time.sleep(0.5)
    raise TimeoutError(f"savepoint of {jid} not completed after {timeout_s:.0f} s")
