"""`vigil bench job`: throughput and event-to-alert latency of the anomaly job on the local
stack, beside two reference jobs on the same cluster and the same readings: the passthrough
(Kafka → parse → Kafka) and the keyed-state skeleton (``jobs/skeleton_job.py``: the job's
shape without its logic, so the ceiling of any job keeping per-reading state in a Python keyed
function). They run one after the other: the machine has 2 cores, so concurrent runs would
measure the contention, not the jobs.

What is measured (all on the real stack, real Kafka, real Flink, real onnxruntime):

1. **max rate**: N readings (``devices`` × ``steps``, 8 sensors) pre-loaded into a fresh
   topic; each job runs bounded from the earliest offset at-least-once. Output topics use
   ``LogAppendTime``, so the broker stamps each output record when the job writes it; rate =
   readings processed between the first and the last output record / that time span (job
   start-up excluded). The anomaly job emits per-window scores (``--emit-scores``; the
   skeleton one record at the same points) to
   observe its progress; windows start once a device has ``window`` readings, so the span
   covers readings ``devices × (window−1)`` … N. Readings already in flight when the first
   window comes out count in that span, so a short run overstates the sustained rate (120
   readings per device: 10.8k/s; 400: 5.1k/s on the same day) and the latency runs at a
   fraction of it would then overload the job: the default is 400.
2. **latency**: the anomaly job consumes ``latest`` while a producer sends readings stamped
   with the wall clock at ``latency_fraction`` × max rate; for each window-score record,
   latency = consumer receive time − window end (event time of the last reading). Scores
   leave the alert-policy operator together with alerts, so this is the event-to-alert path
   (alerts themselves are too rare to give percentiles). Run at-least-once and exactly-once
   (read_committed: the latency then includes the checkpoint interval, by design).
"""

from __future__ import annotations

import json
import platform
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SENSORS = ["temperature", "bearing_temp", "vibration_rms", "pressure", "current", "voltage", "flow", "rpm"]
BASE = {"temperature": 70.0, "bearing_temp": 55.0, "vibration_rms": 2.0, "pressure": 6.0, "current": 40.0,
        "voltage": 400.0, "flow": 120.0, "rpm": 1500.0}


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


def reading_bytes(dev: int, ts_ms: int, rng: random.Random) -> bytes:
    """One simulator-shaped reading (8 sensors, healthy noise)."""
    vals = {s: round(BASE[s] * (1 + 0.01 * rng.gauss(0, 1)), 4) for s in SENSORS}
    return json.dumps({"device_id": f"pump-{dev:04d}", "ts": ts_ms, "values": vals}).encode()


def _producer(bootstrap: str):  # noqa: ANN202
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1,
                         compression_type=None)


def preload(bootstrap: str, topic: str, devices: int, steps: int, seed: int = 0) -> int:
    """Write ``devices × steps`` readings (time-ordered, 1 s apart per device); returns count."""
    rng = random.Random(seed)
    p = _producer(bootstrap)
    t0 = int(time.time() * 1000) - steps * 1000
    n = 0
    for i in range(steps):
        for d in range(devices):
            p.send(topic, value=reading_bytes(d, t0 + i * 1000, rng), key=f"pump-{d:04d}".encode())
            n += 1
    p.flush(120)
    p.close()
    return n


def append_times(bootstrap: str, topic: str, expect: int, timeout_s: float,
                 read_committed: bool = False) -> list[int]:
    """Broker append timestamps (LogAppendTime) of up to ``expect`` records of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      isolation_level="read_committed" if read_committed else "read_uncommitted")
    try:
        parts = c.partitions_for_topic(topic) or {0}
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        out: list[int] = []
        deadline = time.monotonic() + timeout_s
        idle_since = None
        while len(out) < expect and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=1000, max_records=20_000)
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


def _stop(stack: Any, job_id: str) -> None:
    from jobs.submit import cancel, job_state

    try:
        if job_state(job_id, stack) not in ("FINISHED", "CANCELED", "FAILED"):
            cancel(job_id, stack)
    except Exception:  # noqa: BLE001 - best effort
        pass


def _rate(times: list[int], readings: int) -> tuple[float | None, float]:
    """Readings per second over the span of output append times; None when the span is not
    measurable (fewer than two outputs, or all in the same millisecond: use more --steps)."""
    span = (max(times) - min(times)) / 1000.0 if len(times) > 1 else 0.0
    return (round(readings / span, 1) if span > 0 else None), span


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _anomaly_args(bundle: Path, prefix: str, group: str, delivery: str, checkpoint_ms: int, python_mode: str,
                  parallelism: int, job_args: list[str] | None, *extra: str,
                  input_topic: str | None = None) -> list[str]:
    """Arguments of one anomaly-job run reading ``input_topic`` (default ``<prefix>-in``) and
    writing ``<prefix>-scores|anom|dlq|drift``; ``extra``, then the user's ``job_args`` (they
    win), last."""
    topics = {"scores": "scores", "anomalies": "anom", "dlq": "dlq", "drift": "drift"}
    return ["--parallelism", str(parallelism), "--bundle", str(bundle),
            "--input-topic", input_topic or f"{prefix}-in",
            "--group-id", group, "--emit-scores", "--delivery", delivery,
            "--checkpoint-ms", str(checkpoint_ms), "--python-mode", python_mode,
            *(a for k, v in topics.items() for a in ("--set", f"topic_{k}={prefix}-{v}")),
            *extra, *(job_args or [])]


def latency_run(stack: Any, bundle: Path, rate: float, seconds: float, devices: int, delivery: str,
                checkpoint_ms: int, python_mode: str, tag: str, window: int = 60,
                warm_rate: float = 500.0, parallelism: int = 1,
                job_args: list[str] | None = None) -> dict[str, Any]:
    """Anomaly job on ``latest``; paced producer at ``rate`` readings/s; latency per window score."""
    from kafka import KafkaConsumer, TopicPartition

    t_in, t_sc = f"{tag}-lat-in", f"{tag}-lat-scores"
    stack.create_topics({t_in: parallelism, t_sc: 1, f"{tag}-lat-anom": 1, f"{tag}-lat-dlq": 1,
                         f"{tag}-lat-drift": 1})
    job_id = _run_job(stack, "anomaly", _anomaly_args(
        bundle, f"{tag}-lat", f"{tag}-lat-{delivery}", delivery, checkpoint_ms, python_mode, parallelism,
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
    rng = random.Random(1)
    p = _producer(stack.kafka_bootstrap)
    # warm-up: window−1 past readings per device, so live readings complete windows at once
    # (at half rate a device gets a reading every devices/rate s; 60 of them would take minutes)
    now = int(time.time() * 1000)
    for i in range(window - 1):
        for d in range(devices):
            p.send(t_in, value=reading_bytes(d, now - (window - i) * 1000, rng), key=f"pump-{d:04d}".encode())
    p.flush(120)
    time.sleep(devices * (window - 1) / max(warm_rate, 1.0) * 1.3 + 10)  # let the job drain the warm-up
    live_from = int(time.time() * 1000)
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        due = int((time.monotonic() - t0) * rate)
        while sent < due:
            d = sent % devices
            p.send(t_in, value=reading_bytes(d, int(time.time() * 1000), rng), key=f"pump-{d:04d}".encode())
            sent += 1
        time.sleep(0.005)
    p.flush(60)
    achieved = sent / (time.monotonic() - t0)
    time.sleep(max(5.0, 2 * checkpoint_ms / 1000))
    stop.set()
    th.join(10)
    _stop(stack, job_id)
    warm = [x for x, end in zip(lat, ends) if end >= live_from + 5000]  # live windows only
    return {"delivery": delivery, "target_rate": round(rate, 1), "achieved_send_rate": round(achieved, 1),
            "seconds": seconds, "checkpoint_ms": checkpoint_ms, "windows": len(warm),
            "p50_ms": round(_pct(warm, 0.5), 1), "p99_ms": round(_pct(warm, 0.99), 1),
            "max_ms": round(max(warm), 1) if warm else None}


def latency_pair(stack: Any, bdir: Path, rate: float, max_rate: float, seconds: float, devices: int,
                 checkpoint_ms: int, mode: str, tag: str, window: int, parallelism: int = 1,
                 job_args: list[str] | None = None) -> list[dict[str, Any]]:
    """The at-least-once and exactly-once latency runs at ``rate``."""
    return [latency_run(stack, bdir, rate, seconds, devices, d, checkpoint_ms, mode, f"{tag}-{d[:2]}",
                        window, max_rate, parallelism, job_args) for d in ("at-least-once", "exactly-once")]


def rerun_latency(out: Path, seconds: float = 60.0, fraction: float = 0.5,
                  job_args: list[str] | None = None) -> dict[str, Any]:
    """Repeat only the latency runs of an existing result file (same setup, its max rate;
    ``job_args`` replace the recorded extra job arguments when given)."""
    from deploy.stack import Stack

    r = json.loads(out.read_text())
    stack = Stack()
    stack.up()
    s = r["setup"]
    bdir = Path(s["bundle"])
    if not (bdir / "manifest.json").exists():
        import tempfile

        bdir = build_bench_bundle(Path(tempfile.mkdtemp(prefix="vigil-bench-")))
    rate = r["anomaly_job"]["readings_per_s"]
    if not rate:
        raise ValueError(f"{out} has no measured max rate for the anomaly job; run `vigil bench job` first")
    if r.get("latency"):  # keep earlier latency runs (other fractions) beside the new one
        r.setdefault("latency_earlier", []).append({"fraction": r.get("latency_fraction", 0.5),
                                                    "date": r.get("latency_date", r["date"]),
                                                    "runs": r["latency"]})
    r["latency_fraction"] = fraction
    r["latency"] = latency_pair(stack, bdir, fraction * rate, rate, seconds, s["devices"], s["checkpoint_ms"],
                                s["python_mode"], f"bench-{uuid.uuid4().hex[:8]}", s["window"],
                                s.get("parallelism", 1), s.get("job_args") if job_args is None else job_args)
    if job_args is not None:
        r["latency_job_args"] = job_args
    r["latency_date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out.write_text(json.dumps(r, indent=2))
    return r


def run_bench(devices: int = 1000, steps: int = 400, latency_seconds: float = 60.0,
              latency_fraction: float = 0.5, checkpoint_ms: int = 2000, python_mode: str = "auto",
              bundle: str | None = None, out: Path | None = None, skip_latency: bool = False,
              parallelism: int = 1, job_args: list[str] | None = None) -> dict[str, Any]:
    """Run the whole benchmark on the stack (starting it if needed); writes ``out`` JSON."""
    import os
    import tempfile

    from deploy.stack import Stack
    from jobs.anomaly_job import python_mode as resolve_mode

    stack = Stack()
    stack.up()
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    bdir = Path(bundle) if bundle else build_bench_bundle(Path(tempfile.mkdtemp(prefix="vigil-bench-")))
    spec_window = json.loads((bdir / "manifest.json").read_text())["feature_spec"]["window"] \
        if (bdir / "manifest.json").exists() else 60
    env_lib = stack.flink_env().get("FLINK_LIB_DIR", "")
    os.environ.setdefault("FLINK_LIB_DIR", env_lib)
    mode = resolve_mode(python_mode)

    t_in = f"{tag}-in"
    lat_cfg = {"message.timestamp.type": "LogAppendTime"}
    stack.create_topics({t_in: parallelism})  # one source split per subtask
    _create_with_config(stack, [f"{tag}-pt-out", f"{tag}-scores", f"{tag}-sk-scores"], lat_cfg)
    stack.create_topics({t: 1 for t in [f"{tag}-pt-dlq", f"{tag}-anom", f"{tag}-dlq", f"{tag}-drift",
                                        f"{tag}-sk-anom", f"{tag}-sk-dlq", f"{tag}-sk-drift"]})
    n = preload(stack.kafka_bootstrap, t_in, devices, steps)

    # 1a. passthrough, bounded, at-least-once
    pt = _run_job(stack, "passthrough", ["--parallelism", str(parallelism),
                                         "--input-topic", t_in, "--output-topic", f"{tag}-pt-out",
                                         "--dlq-topic", f"{tag}-pt-dlq", "--starting-offsets", "earliest",
                                         "--bounded", "--delivery", "at-least-once", "--python-mode", "process"])
    pt_times = append_times(stack.kafka_bootstrap, f"{tag}-pt-out", n, 900)
    _stop(stack, pt)
    pt_rate, pt_span = _rate(pt_times, len(pt_times))

    slide = json.loads((bdir / "manifest.json").read_text())["feature_spec"].get("slide", 10)
    n_windows = devices * (1 + (steps - spec_window) // slide) if steps >= spec_window else 0
    covered = n - devices * (spec_window - 1)

    def bounded_run(job: str, prefix: str, count_key: str) -> dict[str, Any]:
        """One bounded run's record: windows seen (under ``count_key``), readings/s (None when
        incomplete) and the output span."""
        jid = _run_job(stack, job, _anomaly_args(
            bdir, prefix, f"{prefix}-{job}", "at-least-once", checkpoint_ms, mode, parallelism, job_args,
            "--starting-offsets", "earliest", "--bounded", input_topic=t_in))
        times = append_times(stack.kafka_bootstrap, f"{prefix}-scores", n_windows, 1800)
        _stop(stack, jid)
        rate, span = _rate(times, covered)
        return {count_key: len(times), "windows_expected": n_windows, "readings_covered": covered,
                "span_s": round(span, 2), "readings_per_s": rate if len(times) >= n_windows else None}

    # 1b. keyed-state skeleton (jobs/skeleton_job.py): the ceiling of this job shape
    skeleton = bounded_run("skeleton", f"{tag}-sk", "windows_emitted")
    # 1c. anomaly job, bounded, at-least-once
    anomaly = bounded_run("anomaly", tag, "windows_scored")
    job_rate = anomaly["readings_per_s"]

    def vs_passthrough(rate: float | None) -> float | None:
        return round(rate / pt_rate, 3) if rate and pt_rate else None

    result: dict[str, Any] = {
        "bench": "job", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_at_start": list(os.getloadavg())},
        "setup": {"devices": devices, "sensors": len(SENSORS), "steps_per_device": steps, "readings": n,
                  "window": spec_window, "slide": slide, "bundle": str(bdir), "python_mode": mode,
                  "parallelism": parallelism, "checkpoint_ms": checkpoint_ms, "job_args": job_args or []},
        "passthrough": {"records_out": len(pt_times), "span_s": round(pt_span, 2),
                        "readings_per_s": pt_rate},
        "keyed_skeleton": skeleton,
        "anomaly_job": anomaly,
        "job_vs_passthrough": vs_passthrough(job_rate),
        "skeleton_vs_passthrough": vs_passthrough(skeleton["readings_per_s"]),
        "targets": {"readings_per_s": 20000, "job_vs_passthrough": 0.5, "p99_alo_ms": 1000,
                    "p99_eo_ms": checkpoint_ms + 1000},
    }
    if not skip_latency and job_rate:
        result["latency_fraction"] = latency_fraction
        result["latency"] = latency_pair(stack, bdir, latency_fraction * job_rate, job_rate, latency_seconds,
                                         devices, checkpoint_ms, mode, tag, spec_window, parallelism, job_args)
    result["loadavg_at_end"] = list(os.getloadavg())
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result


def _create_with_config(stack: Any, topics: list[str], config: dict[str, str]) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(t, 1, 1, topic_configs=config) for t in topics])
    finally:
        admin.close()


def summary(r: dict[str, Any]) -> str:
    """Human-readable lines of a result."""
    def rate(x: float | None) -> str:
        return "not measurable (output span under 1 ms: use more --steps)" if x is None else f"{x} readings/s"

    lines = [f"passthrough: {rate(r['passthrough']['readings_per_s'])}"]
    if "keyed_skeleton" in r:
        lines.append(f"keyed-state skeleton: {rate(r['keyed_skeleton']['readings_per_s'])}, "
                     f"ratio {r.get('skeleton_vs_passthrough')}")
    lines.append(f"anomaly job: {rate(r['anomaly_job']['readings_per_s'])} "
                 f"({r['anomaly_job']['windows_scored']}/{r['anomaly_job']['windows_expected']} windows), "
                 f"ratio {r['job_vs_passthrough']}")
    for lt in r.get("latency", []):
        lines.append(f"latency {lt['delivery']} @ {lt['achieved_send_rate']}/s: p50 {lt['p50_ms']} ms, "
                     f"p99 {lt['p99_ms']} ms ({lt['windows']} windows)")
    return "\n".join(lines)


__all__ = ["run_bench", "rerun_latency", "summary", "build_bench_bundle"]
