"""`vigil bench sidecar`: open-loop load on loopback against a `vigil sidecar` started here.

Phase 1: GET /v1/anomalies (rotating filters, limit 50) at a fixed request rate over a Redis
seeded with 10,000 alerts on 50 devices. Phase 2: POST /v1/readings batches at a fixed rate
into a fresh Kafka topic. Requests are scheduled on a fixed clock (open loop), so a slow server
shows up as latency instead of silently lowering the load; latency is measured from the
scheduled send time (includes any client-side lag) and from the actual send.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(settings, n: int = 10_000, devices: int = 50) -> None:
    import redis

    from sidecar.store import AlertWriter
    from udfs.schema import iso_ms, make_alert_id

    w = AlertWriter(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
    t0 = int(time.time() * 1000) - n * 1000
    rng = np.random.default_rng(0)
    for i in range(n):
        dev = f"pump-{i % devices:02d}"
        end = t0 + i * 1000
        w.apply_alert({
            "alert_id": make_alert_id(dev, end, "anomaly", "bench"), "device_id": dev, "kind": "anomaly",
            "severity": ["info", "warning", "critical"][i % 3], "status": "open" if i % 4 else "closed",
            "window_start": iso_ms(end - 60_000), "window_end": iso_ms(end), "detected_at": iso_ms(end + 40),
            "score": float(rng.uniform(0.7, 1.5)), "threshold": 0.7,
            "model": {"name": "iforest", "version": "bench"},
            "top_features": [{"feature": "vibration_rms.std", "contribution": 0.6}], "imputed_fraction": 0.0,
        })


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its direct children (uvicorn workers), from
    Linux /proc, to report server CPU per request."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _say(msg: str) -> None:
    print(f"[bench sidecar] {msg}", file=sys.stderr, flush=True)


def _stats(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {"n": 0}
    a = np.asarray(lat) * 1000
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p90_ms": round(float(np.percentile(a, 90)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2), "mean_ms": round(float(a.mean()), 2)}


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive exchange on an open connection (Content-Length bodies only)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _load(port: int, rps: int, duration: float, make_req, conns: int = 64) -> dict[str, Any]:
    """Open-loop load: request i is due at start + i/rps; `conns` keep-alive connections take
    the next due request as soon as they are free (a raw asyncio client: httpx's pool becomes
    the bottleneck with thousands of queued requests on a 2-core machine)."""
    lat_sched: list[float] = []
    lat_send: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[bytes] = []
    errors = 0
    n = int(rps * duration)
    counter = iter(range(n))
    start = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # warm-up
            await _http(reader, writer, make_req(0))
        for i in counter:
            due = start + i / rps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                status, body = await _http(reader, writer, make_req(i))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            end = time.perf_counter()
            statuses[status] = statuses.get(status, 0) + 1
            if status < 300:
                bodies.append(body)
            lat_sched.append(end - due)
            lat_send.append(end - sent)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.perf_counter() - start
    return {"target_rps": rps, "duration_s": duration, "requests": n, "connections": conns,
            "elapsed_s": round(elapsed, 2), "achieved_rps": round(n / elapsed, 1),
            "statuses": {str(k): v for k, v in statuses.items()}, "errors": errors,
            "latency_from_schedule": _stats(lat_sched), "latency_from_send": _stats(lat_send),
            "_ok": bodies}


def run_bench(duration: float = 20.0, read_rps: tuple[int, ...] = (100, 250, 500), write_rps: int = 50, batch: int = 100,
              out: Path = Path("bench-results/sidecar.json"), workers: int = 1) -> dict[str, Any]:
    """Run both phases and write the JSON; returns the result dict."""
    import httpx

    from sidecar.settings import SidecarSettings

    tag = uuid.uuid4().hex[:8]
    base = SidecarSettings()
    prefix, topic = f"bench-{tag}", f"bench-readings-{tag}"
    env = {**os.environ, "VIGIL_SIDECAR_KEY_PREFIX": prefix, "VIGIL_SIDECAR_READINGS_TOPIC": topic,
           "VIGIL_SIDECAR_CONSUME": "false", "VIGIL_SIDECAR_WRITE_TOKEN": f"bench-{tag}",
           "VIGIL_SIDECAR_MAX_BODY_BYTES": str(max(base.max_body_bytes, batch * 400))}
    settings = SidecarSettings(key_prefix=prefix)
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    _say(f"seeding 10,000 alerts under Redis prefix {prefix}")
    t_seed = time.perf_counter()
    _seed(settings)
    seed_s = time.perf_counter() - t_seed
    port = _free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"vigil-bench-sidecar-{tag}.log", "ab")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "vigil"), "sidecar", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        queries = [{}, {"device": "pump-07"}, {"severity": "critical"}, {"status": "open"},
                   {"device": "pump-11", "status": "open"}, {"kind": "anomaly", "severity": "warning"}]

        from urllib.parse import urlencode

        reqs = [f"GET /v1/anomalies?{urlencode({'limit': 50, **q})} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                for q in queries]

        def read(i: int) -> bytes:
            return reqs[i % len(reqs)]

        _say(f"server up on {url}")
        reads_all = []
        for rps in read_rps:
            _say(f"reads: {rps} req/s for {duration:.0f} s")
            cpu0, load0 = _cpu_s(proc.pid), os.getloadavg()[0]
            res = asyncio.run(_load(port, rps, duration, read))
            res.pop("_ok")
            res["server_cpu_ms_per_request"] = round((_cpu_s(proc.pid) - cpu0) * 1000 / max(1, res["requests"]), 3)
            res["machine_load_avg_1m"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
            _say(f"  p50/p99 {res['latency_from_schedule'].get('p50_ms')}/{res['latency_from_schedule'].get('p99_ms')} ms, "
                 f"achieved {res['achieved_rps']} req/s")
            reads_all.append(res)
        headers = {"Authorization": f"Bearer bench-{tag}"}
        now = int(time.time() * 1000)
        body = json.dumps([{"device_id": f"pump-{j % 50:02d}", "ts": now + j,
                            "values": {"temperature": 70.0 + j % 7, "vibration_rms": 0.03, "rpm": 1500.0}}
                           for j in range(batch)]).encode()

        post = (f"POST /v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {headers['Authorization']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

        def write(i: int) -> bytes:
            return post

        _say(f"writes: {write_rps} req/s x {batch} readings for {duration:.0f} s")
        cpu0, load0 = _cpu_s(proc.pid), os.getloadavg()[0]
        writes = asyncio.run(_load(port, write_rps, duration, write, conns=16))
        ok = writes.pop("_ok")
        writes["server_cpu_ms_per_request"] = round((_cpu_s(proc.pid) - cpu0) * 1000 / max(1, writes["requests"]), 3)
        writes["machine_load_avg_1m"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
        accepted = sum(json.loads(b)["accepted"] for b in ok)
        writes.update({"batch": batch, "readings_accepted": accepted,
                       "readings_per_s": round(accepted / writes["elapsed_s"], 1)})
    finally:
        proc.terminate()
        proc.wait(20)
        admin.delete_topics([topic])
        admin.close()
        import redis

        r = redis.Redis.from_url(settings.redis_url)
        for k in r.scan_iter(f"{prefix}:*", count=1000):
            r.delete(k)
    result = {
        "benchmark": "sidecar", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "setup": {"server": f"vigil sidecar (uvicorn, {workers} worker(s)) on loopback", "redis": settings.redis_url,
                  "kafka": settings.kafka_bootstrap, "seeded_alerts": 10_000, "seed_s": round(seed_s, 1),
                  "client": "open-loop raw asyncio HTTP/1.1 keep-alive generator on the same machine"},
        "reads_get_v1_anomalies": reads_all, "writes_post_v1_readings": writes,
        "target": {"read_p99_ms_below": 50, "at_rps": 500},
        "target_met": any(r["target_rps"] >= 500 and r["errors"] == 0
                          and r["latency_from_schedule"].get("p99_ms", 1e9) < 50 for r in reads_all),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result
