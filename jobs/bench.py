"""`vigil bench job`: throughput, latency, CPU and device scaling of the anomaly job on the
local stack, beside two reference jobs run on the same preloaded topic in the same invocation:

* **the anchor**, ``jobs/sql_passthrough_job.py``: Kafka → Flink SQL ``json`` format → Kafka,
  no Python at all -- what this stack moves per reading on this machine today;
* **the project passthrough**, ``jobs/passthrough_job.py``: one Python parse per reading;
* **the anomaly job**: JVM parse, per-device windows and alert policy, one pandas UDF per
  batch of windows (Isolation Forest, RocksDB state by default).

They run one after the other (the machine has 2 cores: concurrent runs would measure the
contention). Absolute rates on these shared machines swing up to 2× between runs, so every
figure is reported beside the anchor measured in the same invocation.

What is measured (real Kafka, real Flink, real onnxruntime):

1. **max rate**: ``devices × steps`` readings (8 sensors) preloaded by a JVM generator
   (``vigil.flink.tools.BenchReadings``; a Python producer manages ~17k/s here); each job runs
   bounded from the earliest offset, at-least-once. Output topics use ``LogAppendTime``, so the
   broker stamps each output record when the job writes it; rate = readings processed between
   the first and the last output record / that span (start-up excluded). The anomaly job emits
   per-window scores (``--emit-scores``) to show its progress; windows start once a device has
   ``window`` readings, so its span covers readings ``devices × (window−1)`` … N. Short runs
   overstate rates (readings in flight at the first output count in the span): aim for ≥ 15 s
   of output.
2. **CPU and memory** during each bounded run: CPU seconds and peak resident memory of the
   JobManager, the TaskManager, its Python workers and Kafka, and CPU seconds per TaskManager
   thread (by thread name: which operator chain works most), from ``/proc`` every 0.5 s. The
   output is read after the job finished, so no consumer competes for the 2 cores meanwhile.
3. **latency**: the anomaly job consumes ``latest`` while the generator sends readings stamped
   with the wall clock at ``latency_fraction`` × the max rate; per window-score record, latency
   = consumer receive time − window end (event time of its last reading). Scores leave the
   alert-policy operator with the alerts, so this is the event-to-alert path. At-least-once and
   exactly-once (read_committed: includes up to one checkpoint interval, by design).
   Percentiles are steady state: windows ending in the first ``LATENCY_WARMUP_S`` of the live
   phase are left out (a fresh job is still compiling and draining the preload burst; their
   p99 is recorded as ``p99_ms_incl_warmup``).
4. **device scaling**: the anomaly job alone on fresh topics of 10k and 100k devices (and the
   1k run above): readings/s, resident memory, checkpointed state size, checkpoint duration.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SENSORS = ["temperature", "bearing_temp", "vibration_rms", "pressure", "current", "voltage", "flow", "rpm"]
BASE = {"temperature": 70.0, "bearing_temp": 55.0, "vibration_rms": 2.0, "pressure": 6.0, "current": 40.0,
        "voltage": 400.0, "flow": 120.0, "rpm": 1500.0}
#: readings per device of the scaling runs: enough for every device to pass its first window
SCALING_STEPS = {10_000: 150, 100_000: 100}
#: latency percentiles skip this much of the live phase: a freshly started job is still
#: compiling (JIT) and draining the preload burst (measured: ~12 s of backlog at half rate)
LATENCY_WARMUP_S = 20.0


def build_bench_bundle(root: Path, window: int = 60, slide: int = 10, seed: int = 0) -> Path:
    """An Isolation Forest bundle (scikit-learn → skl2onnx, 100 trees, 48 features) trained on
    synthetic healthy windows of the 8 simulator sensors; written per the bundle contract."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from udfs.features import FeatureSpec

    rng = np.random.default_rng(seed)
    spec = FeatureSpec(sensors=SENSORS, window=window, slide=slide)
    base = np.array([BASE[s] for s in SENSORS])
    w = base[None, None, :] * (1 + 0.01 * rng.standard_normal((3000, window, len(SENSORS))))
    f = spec.compute(w.astype(np.float32))
    pipe = make_pipeline(StandardScaler(), IsolationForest(n_estimators=100, random_state=seed)).fit(f)
    onx = to_onnx(pipe, f[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    scores = -pipe.decision_function(f)

    def stats(x: Any) -> dict[str, Any]:
        c, e = np.histogram(x, bins=20)
        return {"quantiles": {q: float(np.quantile(x, float(q))) for q in ("0.01", "0.25", "0.5", "0.75", "0.99")},
                "mean": float(np.mean(x)), "std": float(np.std(x)),
                "hist": {"edges": e.tolist(), "counts": c.tolist()}}

    d = root / "bench-iforest" / "v1"
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_bytes(onx.SerializeToString())
    (d / "manifest.json").write_text(json.dumps({
        "name": "bench-iforest", "version": "v1", "kind": "iforest",
        "created_at": datetime.now(timezone.utc).isoformat(), "feature_spec": spec.model_dump(),
        "input": {"name": onx.graph.input[0].name, "kind": "features", "shape": [None, spec.n_features]},
        "output": {"name": "scores"}, "score_direction": "lower_is_anomalous",
        "thresholds": {"global": float(np.quantile(scores, 0.999)), "method": "quantile"},
    }))
    (d / "reference_stats.json").write_text(json.dumps(
        {"features": {n: stats(f[:, j]) for j, n in enumerate(spec.names())}, "scores": stats(scores),
         "rows": int(len(f))}))
    return d


# ------------------------------------------------------------------ load generation
def generate(stack: Any, topic: str, devices: int, *, steps: int = 0, rate: float = 0.0, seconds: float = 0.0,
             warm: int = 0, seed: int = 0) -> int:
    """Readings into ``topic`` with the JVM generator (``vigil.flink.tools.BenchReadings``):
    ``steps`` per device ending now, or ``warm`` past ones then ``rate``/s live for ``seconds``.
    Returns how many were sent."""
    from deploy.artifacts import jvm_ops_jar, kafka_jars_dir

    cp = f"{jvm_ops_jar()}:{kafka_jars_dir(stack.settings.cache_dir)}/*"
    cmd = ["java", "-cp", cp, "vigil.flink.tools.BenchReadings", "--bootstrap", stack.kafka_bootstrap,
           "--topic", topic, "--devices", str(devices), "--seed", str(seed)]
    if rate > 0:
        cmd += ["--rate", str(rate), "--seconds", str(seconds), "--warm", str(warm)]
    else:
        cmd += ["--steps", str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-3000:]}")
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["sent"])


# ------------------------------------------------------------------ processes: CPU and memory
class ProcSampler:
    """CPU seconds and peak resident memory per role (jobmanager, taskmanager, python workers
    = the TaskManager's process group minus itself, kafka), sampled from ``/proc`` every 0.5 s
    while running, so workers that exit before the end still count."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self._stop = threading.Event()
        self._cpu0: dict[int, float] = {}
        self._cpu: dict[int, float] = {}
        self._role: dict[int, str] = {}
        self.peak_rss: dict[str, int] = {}
        self._threads0: dict[tuple[int, int], float] = {}
        self._threads: dict[tuple[int, int], tuple[str, float]] = {}
        self._baseline = True  # the first sample: processes that exist already start from there
        self._t = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> dict[int, str]:
        from deploy.procs import group_members

        out: dict[int, str] = {}
        for name, role in (("flink-jobmanager", "jobmanager"), ("kafka", "kafka")):
            rec = self.stack.registry.get(name)
            if rec is not None:
                out[rec.pid] = role
        tm = self.stack.registry.get("flink-taskmanager")
        if tm is not None:
            for pid in group_members(tm.pid):
                out[pid] = "taskmanager" if pid == tm.pid else "python_workers"
        return out

    def _sample(self) -> None:
        from deploy.procs import cpu_seconds, rss_bytes, thread_cpu_seconds

        rss: dict[str, int] = {}
        for pid, role in self._pids().items():
            c, r = cpu_seconds(pid), rss_bytes(pid)
            if c is None or r is None:
                continue
            if role in ("taskmanager", "python_workers"):
                for tid, (name, tc) in thread_cpu_seconds(pid).items():
                    self._threads0.setdefault((pid, tid), tc if self._baseline else 0.0)
                    self._threads[(pid, tid)] = (name, tc)
            self._role[pid] = role
            self._cpu0.setdefault(pid, c if self._baseline else 0.0)
            self._cpu[pid] = c
            rss[role] = rss.get(role, 0) + r
        for role, r in rss.items():
            self.peak_rss[role] = max(self.peak_rss.get(role, 0), r)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> "ProcSampler":
        self._sample()
        self._baseline = False  # processes appearing later count from zero
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join(5)
        self._sample()

    def result(self) -> dict[str, Any]:
        cpu: dict[str, float] = {}
        for pid, c in self._cpu.items():
            role = self._role[pid]
            cpu[role] = cpu.get(role, 0.0) + c - self._cpu0.get(pid, 0.0)
        threads: dict[str, float] = {}
        for key, (name, c) in self._threads.items():
            threads[name] = threads.get(name, 0.0) + c - self._threads0.get(key, 0.0)
        top = sorted(threads.items(), key=lambda kv: -kv[1])[:10]
        return {"cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items())},
                "peak_rss_mb": {k: round(v / 2**20) for k, v in sorted(self.peak_rss.items())},
                "taskmanager_threads_cpu_s": {k: round(v, 1) for k, v in top if v >= 0.05}}


# ------------------------------------------------------------------ runs
def append_times(bootstrap: str, topic: str, expect: int, timeout_s: float,
                 read_committed: bool = False) -> list[int]:
    """Broker append timestamps (LogAppendTime) of up to ``expect`` records of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      isolation_level="read_committed" if read_committed else "read_uncommitted",
                      fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    try:
        parts = c.partitions_for_topic(topic) or {0}
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        out: list[int] = []
        deadline = time.monotonic() + timeout_s
        idle_since = None
        while len(out) < expect and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=1000, max_records=50_000)
            got = sum(len(v) for v in batch.values())
            for recs in batch.values():
                out.extend(r.timestamp for r in recs)
            if got == 0 and out:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 60:  # output stopped growing: job done or stuck
                    break
            else:
                idle_since = None
        return out
    finally:
        c.close()


def _run_job(stack: Any, job: str, args: list[str]) -> str:
    from jobs.submit import submit, wait_for_state

    j = submit(job, args, stack=stack)
    wait_for_state(j.job_id, "RUNNING", 600, stack=stack)
    return j.job_id


def _finish(stack: Any, job_id: str, timeout_s: float = 120.0) -> None:
    """Wait for a bounded job to finish (its last checkpoint included), else cancel it."""
    from jobs.submit import cancel, job_state

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if job_state(job_id, stack) in ("FINISHED", "CANCELED", "FAILED"):
                return
            time.sleep(1)
        cancel(job_id, stack)
    except Exception:  # noqa: BLE001 - best effort
        pass


def checkpoint_stats(stack: Any, job_id: str) -> dict[str, Any]:
    """Completed/failed checkpoint counts, the latest checkpoint's sizes, durations p50/max."""
    import httpx

    try:
        r = httpx.get(f"{stack.flink_rest_url}/jobs/{job_id}/checkpoints", timeout=10).json()
    except Exception:  # noqa: BLE001 - a job without checkpoints stats
        return {}
    latest = (r.get("latest") or {}).get("completed") or {}
    summ = r.get("summary") or {}
    dur = summ.get("end_to_end_duration") or {}
    return {"completed": (r.get("counts") or {}).get("completed"), "failed": (r.get("counts") or {}).get("failed"),
            "latest_state_size_mb": round(latest.get("state_size", 0) / 2**20, 1),
            "latest_checkpointed_size_mb": round(latest.get("checkpointed_size", 0) / 2**20, 1),
            "duration_ms_p50": dur.get("p50"), "duration_ms_max": dur.get("max")}


def _rate(times: list[int], readings: int) -> tuple[float | None, float]:
    """Readings per second over the span of output append times; None when the span is not
    measurable (fewer than two outputs, or all in the same millisecond: use more --steps)."""
    span = (max(times) - min(times)) / 1000.0 if len(times) > 1 else 0.0
    return (round(readings / span, 1) if span > 0 else None), span


def bounded_run(stack: Any, job: str, args: list[str], out_topic: str, expect: int, covered: int) -> dict[str, Any]:
    """One bounded job over a preloaded topic: readings/s (None when incomplete), output span,
    CPU and memory per process and per TaskManager thread, checkpoint statistics. The output
    is read after the job finished: a consumer reading it meanwhile would compete for the cores."""
    with ProcSampler(stack) as procs:
        jid = _run_job(stack, job, args)
        _finish(stack, jid, timeout_s=3600)
    times = append_times(stack.kafka_bootstrap, out_topic, expect, 600)
    rate, span = _rate(times, covered)
    return {"outputs": len(times), "outputs_expected": expect, "readings_covered": covered,
            "span_s": round(span, 2), "readings_per_s": rate if len(times) >= expect else None,
            **procs.result(), "checkpoints": checkpoint_stats(stack, jid)}


def _anomaly_args(bundle: Path, prefix: str, group: str, delivery: str, checkpoint_ms: int, parallelism: int,
                  job_args: list[str] | None, *extra: str, input_topic: str | None = None) -> list[str]:
    """Arguments of one anomaly-job run reading ``input_topic`` (default ``<prefix>-in``) and
    writing ``<prefix>-scores|anom|dlq|drift``; ``extra``, then the user's ``job_args`` (they
    win), last."""
    topics = {"scores": "scores", "anomalies": "anom", "dlq": "dlq", "drift": "drift"}
    return ["--parallelism", str(parallelism), "--bundle", str(bundle),
            "--input-topic", input_topic or f"{prefix}-in",
            "--group-id", group, "--emit-scores", "--delivery", delivery,
            "--checkpoint-ms", str(checkpoint_ms),
            *(a for k, v in topics.items() for a in ("--set", f"topic_{k}={prefix}-{v}")),
            *extra, *(job_args or [])]


def _create_topics(stack: Any, tag: str, names: list[str], log_append: list[str], partitions: int = 1) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(f"{tag}-{n}", partitions if n == "in" else 1, 1,
                                      topic_configs={"message.timestamp.type": "LogAppendTime"} if n in log_append else {})
                             for n in names])
    finally:
        admin.close()


def anomaly_run(stack: Any, bdir: Path, tag: str, t_in: str, devices: int, n: int, window: int, slide: int,
                checkpoint_ms: int, parallelism: int, job_args: list[str] | None) -> dict[str, Any]:
    """The anomaly job bounded over ``t_in`` (``n`` readings of ``devices``), at-least-once."""
    _create_topics(stack, tag, ["scores", "anom", "dlq", "drift"], ["scores"])
    steps = n // devices
    expect = devices * (1 + (steps - window) // slide) if steps >= window else 0
    args = _anomaly_args(bdir, tag, f"{tag}-grp", "at-least-once", checkpoint_ms, parallelism, job_args,
                         "--starting-offsets", "earliest", "--bounded", input_topic=t_in)
    return bounded_run(stack, "anomaly", args, f"{tag}-scores", expect, n - devices * (window - 1))


def latency_run(stack: Any, bundle: Path, rate: float, seconds: float, devices: int, delivery: str,
                checkpoint_ms: int, tag: str, window: int = 60, parallelism: int = 1,
                job_args: list[str] | None = None, warmup_s: float = LATENCY_WARMUP_S) -> dict[str, Any]:
    """Anomaly job on ``latest``; generator at ``rate`` readings/s; latency per window score.
    Percentiles count windows ending ``warmup_s`` after the live phase starts (steady state);
    ``p99_ms_incl_warmup`` counts every live window."""
    from kafka import KafkaConsumer, TopicPartition

    _create_topics(stack, f"{tag}-lat", ["in", "scores", "anom", "dlq", "drift"], [], parallelism)
    t_sc = f"{tag}-lat-scores"
    job_id = _run_job(stack, "anomaly", _anomaly_args(
        bundle, f"{tag}-lat", f"{tag}-lat-{delivery}", delivery, checkpoint_ms, parallelism,
        job_args, "--starting-offsets", "latest",
        "--set", "silent_after_ms=900000"))  # the warm-up → live pause is not a silence
    lat: list[float] = []
    ends: list[int] = []
    stop = threading.Event()

    def consume() -> None:
        c = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                          isolation_level="read_committed" if delivery == "exactly-once" else "read_uncommitted")
        c.assign([TopicPartition(t_sc, 0)])
        c.seek_to_beginning()
        while not stop.is_set():
            for recs in c.poll(timeout_ms=200).values():
                now = time.time() * 1000
                for r in recs:
                    end = json.loads(r.value)["window_end_ms"]
                    lat.append(now - end)
                    ends.append(end)
        c.close()

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    time.sleep(15)  # the source must have reached `latest` before the first reading is sent
    # window−1 past readings per device first, so live readings complete windows at once
    live_from = int(time.time() * 1000) + 1000
    sent = generate(stack, f"{tag}-lat-in", devices, rate=rate, seconds=seconds, warm=window - 1)
    achieved = (sent - devices * (window - 1)) / seconds
    time.sleep(max(5.0, 2 * checkpoint_ms / 1000))
    stop.set()
    th.join(10)
    ckpt = checkpoint_stats(stack, job_id)
    _finish(stack, job_id, timeout_s=0)
    live = sorted(x for x, end in zip(lat, ends) if end >= live_from)
    warm = sorted(x for x, end in zip(lat, ends) if end >= live_from + warmup_s * 1000)
    return {"delivery": delivery, "target_rate": round(rate, 1), "achieved_send_rate": round(achieved, 1),
            "seconds": seconds, "checkpoint_ms": checkpoint_ms, "windows": len(warm),
            "p50_ms": round(_pct(warm, 0.5), 1), "p99_ms": round(_pct(warm, 0.99), 1),
            "max_ms": round(warm[-1], 1) if warm else None, "warmup_s": warmup_s,
            "p99_ms_incl_warmup": round(_pct(live, 0.99), 1), "checkpoints": ckpt}


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("apache-flink", "onnxruntime", "numpy", "pandas", "pyarrow")} | \
        {"python": platform.python_version(), "java": _java_version()}


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr  # noqa: S603, S607
        return out.splitlines()[0] if out else "?"
    except OSError:
        return "?"


def run_bench(devices: int = 1000, steps: int = 1000, latency_seconds: float = 80.0,
              latency_fraction: float = 0.5, checkpoint_ms: int = 2000, bundle: str | None = None,
              out: Path | None = None, skip_latency: bool = False, parallelism: int = 1,
              job_args: list[str] | None = None, scaling: list[int] | None = None,
              heap: bool = True) -> dict[str, Any]:
    """Run the whole benchmark on the stack (starting it if needed); writes ``out`` JSON.
    ``scaling``: device counts for the scaling runs besides ``devices`` (default 10k, 100k;
    ``[]`` for none); ``heap``: also run the anomaly job with the heap state backend."""
    import tempfile

    from deploy.stack import Stack

    stack = Stack()
    stack.up()
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    bdir = Path(bundle) if bundle else build_bench_bundle(Path(tempfile.mkdtemp(prefix="vigil-bench-")))
    spec = json.loads((bdir / "manifest.json").read_text())["feature_spec"]
    window, slide = spec["window"], spec.get("slide", 10)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load0 = list(os.getloadavg())

    _create_topics(stack, tag, ["in", "sql-out", "pt-out", "pt-dlq"], ["sql-out", "pt-out"], parallelism)
    t_in = f"{tag}-in"
    n = generate(stack, t_in, devices, steps=steps)

    # 1. the anchor: pure-JVM SQL passthrough
    anchor = bounded_run(stack, "sql_passthrough", ["--input-topic", t_in, "--output-topic", f"{tag}-sql-out",
                                                    "--parallelism", str(parallelism), "--bounded"],
                         f"{tag}-sql-out", n, n)
    # 2. the project passthrough: one Python parse per reading
    pt = bounded_run(stack, "passthrough", ["--parallelism", str(parallelism), "--input-topic", t_in,
                                            "--output-topic", f"{tag}-pt-out", "--dlq-topic", f"{tag}-pt-dlq",
                                            "--starting-offsets", "earliest", "--bounded",
                                            "--delivery", "at-least-once"], f"{tag}-pt-out", n, n)
    # 3. the anomaly job, RocksDB (and heap)
    job = anomaly_run(stack, bdir, f"{tag}-job", t_in, devices, n, window, slide, checkpoint_ms, parallelism, job_args)
    job_heap = anomaly_run(stack, bdir, f"{tag}-heap", t_in, devices, n, window, slide, checkpoint_ms, parallelism,
                           [*(job_args or []), "--state-backend", "hashmap"]) if heap else None
    anchor_rate = anchor["readings_per_s"]

    def vs_anchor(rate: float | None) -> float | None:
        return round(rate / anchor_rate, 3) if rate and anchor_rate else None

    result: dict[str, Any] = {
        "bench": "job", "date": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_at_start": load0},
        "versions": _versions(),
        "setup": {"devices": devices, "sensors": len(SENSORS), "steps_per_device": steps, "readings": n,
                  "window": window, "slide": slide, "bundle": str(bdir), "state_backend": "rocksdb",
                  "parallelism": parallelism, "checkpoint_ms": checkpoint_ms, "job_args": job_args or []},
        "sql_passthrough": anchor, "passthrough": pt, "anomaly_job": job,
        "job_vs_sql_passthrough": vs_anchor(job["readings_per_s"]),
        "passthrough_vs_sql_passthrough": vs_anchor(pt["readings_per_s"]),
        "targets": {"job_vs_sql_passthrough": 0.5, "readings_per_s_aim": 100_000, "p99_alo_ms": 500,
                    "p99_eo_ms": checkpoint_ms + 500, "scaling_100k_vs_1k": 0.7},
    }
    if job_heap is not None:
        result["anomaly_job_heap"] = job_heap
        result["job_heap_vs_sql_passthrough"] = vs_anchor(job_heap["readings_per_s"])
    job_rate = job["readings_per_s"]
    if not skip_latency and job_rate:
        result["latency_fraction"] = latency_fraction
        result["latency"] = [latency_run(stack, bdir, latency_fraction * job_rate, latency_seconds, devices, d,
                                         checkpoint_ms, f"{tag}-{d[:2]}", window, parallelism, job_args)
                             for d in ("at-least-once", "exactly-once")]
    scale = {str(devices): {k: job[k] for k in ("readings_per_s", "peak_rss_mb", "checkpoints")}}
    for d in (SCALING_STEPS if scaling is None else scaling):
        s_steps = SCALING_STEPS.get(d, max(window + 40, 100))
        s_tag = f"{tag}-d{d}"
        _create_topics(stack, s_tag, ["in"], [], parallelism)
        s_n = generate(stack, f"{s_tag}-in", d, steps=s_steps, seed=1)
        r = anomaly_run(stack, bdir, s_tag, f"{s_tag}-in", d, s_n, window, slide, checkpoint_ms, parallelism, job_args)
        scale[str(d)] = {"readings": s_n, "steps_per_device": s_steps,
                         **{k: r[k] for k in ("readings_per_s", "span_s", "peak_rss_mb", "cpu_s",
                                              "taskmanager_threads_cpu_s", "checkpoints")}}
    result["device_scaling"] = scale
    big = scale.get("100000", {}).get("readings_per_s")
    result["scaling_100k_vs_1k"] = round(big / job_rate, 3) if big and job_rate else None
    result["loadavg_at_end"] = list(os.getloadavg())
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result


def summary(r: dict[str, Any]) -> str:
    """Human-readable lines of a result."""
    def rate(x: dict[str, Any]) -> str:
        v = x.get("readings_per_s")
        return "incomplete (see outputs)" if v is None else f"{v:,.0f} readings/s"

    lines = [f"SQL passthrough (anchor, no Python): {rate(r['sql_passthrough'])}",
             f"project passthrough (Python parse): {rate(r['passthrough'])}, "
             f"ratio {r.get('passthrough_vs_sql_passthrough')}",
             f"anomaly job (RocksDB): {rate(r['anomaly_job'])} ({r['anomaly_job']['outputs']}/"
             f"{r['anomaly_job']['outputs_expected']} windows), ratio {r['job_vs_sql_passthrough']}"]
    if "anomaly_job_heap" in r:
        lines.append(f"anomaly job (heap): {rate(r['anomaly_job_heap'])}, ratio {r.get('job_heap_vs_sql_passthrough')}")
    for lt in r.get("latency", []):
        lines.append(f"latency {lt['delivery']} @ {lt['achieved_send_rate']:,.0f}/s: p50 {lt['p50_ms']} ms, "
                     f"p99 {lt['p99_ms']} ms ({lt['windows']} windows)")
    for d, s in (r.get("device_scaling") or {}).items():
        lines.append(f"{int(d):,} devices: {s.get('readings_per_s')} readings/s, peak RSS {s.get('peak_rss_mb')} MB, "
                     f"state {s.get('checkpoints', {}).get('latest_state_size_mb')} MB")
    return "\n".join(lines)


__all__ = ["run_bench", "summary", "build_bench_bundle", "generate"]
