"""The local stack for real: the shared session stack, and a private one started and stopped here.

The private stack (own state folder, own free ports) proves what the shared one cannot without
disturbing other users: a cold ``up`` starts every service, a second ``up`` is harmless,
``down`` leaves no process of ours, and a service that cannot start fails with its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from deploy.procs import _cmdline
from deploy.settings import StackSettings
from deploy.stack import SERVICE_NAMES, Stack, StackError

pytestmark = pytest.mark.e2e


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _private_settings(tmp_path: Path, **kw) -> StackSettings:
    k, kc, rest, rpc, rd, prom, side, m1 = _free_ports(8)
    base = dict(state_dir=tmp_path / "state", kafka_port=k, kafka_controller_port=kc, flink_rest_port=rest,
                flink_rpc_port=rpc, redis_port=rd, prometheus_port=prom, sidecar_port=side,
                flink_metrics_ports=f"{m1}-{m1}", flink_slots=1, flink_tm_memory="1280m",
                flink_jm_memory="900m", kafka_heap="384m", topics={"sensor-readings": 2})
    base.update(kw)
    return StackSettings(**base)


# -- the shared session stack ------------------------------------------------------------------
def test_every_service_is_healthy(stack: Stack) -> None:
    rows = {r.name: r for r in stack.status()}
    assert set(rows) == set(SERVICE_NAMES)
    assert all(r.healthy for r in rows.values()), rows
    overview = httpx.get(f"{stack.flink_rest_url}/overview", timeout=5).json()
    assert overview["taskmanagers"] >= 1 and overview["slots-total"] >= 1
    assert redis.Redis.from_url(stack.redis_url).ping()
    assert httpx.get(f"{stack.prometheus_url}/-/ready", timeout=5).status_code == 200


def test_up_again_is_harmless(stack: Stack) -> None:
    before = {r.name: r.pid for r in stack.status()}
    again = Stack(stack.settings)
    rows = again.up()
    assert again.started == []
    assert {r.state for r in rows} <= {"running", "external"}
    assert {r.name: r.pid for r in again.status()} == before


def test_topics_exist_with_their_partitions(stack: Stack) -> None:
    from kafka.admin import KafkaAdminClient

    # The admin client asks the broker directly (a fresh consumer's metadata may still be empty).
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(stack.settings.topics))}
    finally:
        admin.close()
    assert described == stack.settings.topics


def test_kafka_round_trip(stack: Stack, kafka_topic, produce, consume) -> None:
    topic = kafka_topic("roundtrip", partitions=2)
    sent = [{"device_id": f"d{i % 3}", "i": i} for i in range(50)]
    assert produce(topic, sent, key=lambda m: m["device_id"]) == 50
    got = consume(topic, 50, timeout_s=30, decode_json=True, extra_wait_s=0.5)
    assert sorted(g["i"] for g in got) == list(range(50))


def test_prometheus_scrapes_flink_reporter(stack: Stack) -> None:
    # The JobManager and TaskManager reporters answer within a few scrape intervals (5 s).
    deadline = time.monotonic() + 60
    up: list = []
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": 'up{job="flink"} == 1'}, timeout=5)
        up = r.json()["data"]["result"]
        if len(up) >= 2:
            break
        time.sleep(2)
    assert len(up) >= 2, f"expected JobManager + TaskManager targets up, got {up}"
    r = httpx.get(f"{stack.prometheus_url}/api/v1/query",
                  params={"query": "flink_taskmanager_Status_JVM_Memory_Heap_Used"}, timeout=5)
    assert r.json()["data"]["result"], "no Flink TaskManager metric in Prometheus"


# -- a private stack, started and stopped by this test -------------------------------------------
@pytest.mark.slow
def test_private_stack_cold_up_twice_then_down_leaves_nothing(tmp_path: Path) -> None:
    s = _private_settings(tmp_path)
    st = Stack(s)
    try:
        rows = st.up()
        assert [r.state for r in rows] == ["started"] * len(SERVICE_NAMES)
        pids = {r.name: r.pid for r in rows}
        assert all(pids.values())
        assert redis.Redis.from_url(st.redis_url).ping()
        assert httpx.get(f"{st.flink_rest_url}/overview", timeout=5).json()["slots-total"] == 1

        rows2 = Stack(s).up()
        assert [r.state for r in rows2] == ["running"] * len(SERVICE_NAMES)
        assert {r.name: r.pid for r in rows2} == pids
    finally:
        stopped = st.down()
    assert sorted(stopped) == sorted(SERVICE_NAMES)
    time.sleep(0.5)
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3], name
    leftovers = [p.name for p in Path("/proc").iterdir()
                 if p.name.isdigit() and str(s.state_dir) in _cmdline(int(p.name))]
    assert leftovers == [], f"processes still running from {s.state_dir}: {leftovers}"
    assert [r.state for r in Stack(s).status()] == ["stopped"] * len(SERVICE_NAMES)
    assert Stack(s).down() == []


def test_service_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        # The controller port is taken: the broker exits at start-up.
        s = _private_settings(tmp_path, kafka_controller_port=blocker.getsockname()[1], health_timeout_s=90)
        st = Stack(s)
        with pytest.raises(StackError) as err:
            st.up(["kafka"])
        msg = str(err.value)
        assert "kafka" in msg and str(s.state_dir / "logs" / "kafka.log") in msg
        assert "last lines" in msg and len(msg.splitlines()) > 3
    finally:
        blocker.close()
        Stack(_private_settings(tmp_path)).down()


def test_cli_status_up_and_logs(stack: Stack) -> None:
    vigil = [sys.executable, "-m", "deploy.cli"]
    env = {**os.environ, "VIGIL_STATE_DIR": str(stack.state_dir)}
    st = subprocess.run([*vigil, "stack", "status"], capture_output=True, text=True, env=env, timeout=120)
    assert st.returncode == 0, st.stdout + st.stderr
    for name in SERVICE_NAMES:
        assert name in st.stdout
    up = subprocess.run([*vigil, "stack", "up"], capture_output=True, text=True, env=env, timeout=300)
    assert up.returncode == 0 and "started" not in up.stdout, up.stdout + up.stderr
    logs = subprocess.run([*vigil, "stack", "logs", "redis", "-n", "5"], capture_output=True, text=True, env=env)
    assert logs.returncode == 0 and "redis.log" in logs.stdout
    bad = subprocess.run([*vigil, "stack", "logs", "zookeeper"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown service" in bad.stderr
