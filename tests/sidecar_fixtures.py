"""Private Redis and Kafka instances for the sidecar's failure tests.

The restart tests stop and start their own Redis (and Kafka) on non-default ports under a temp
dir, so the shared stack is never disturbed. Each helper kills only the pid it started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from deploy.services import kafka_cluster_id

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0, up: bool = True) -> None:
    """Wait until 127.0.0.1:port accepts connections (or stops accepting when up=False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} not {'up' if up else 'down'} after {timeout}s")


def stop_process(proc: subprocess.Popen | None, grace_s: float) -> None:
    """Terminate a server this fixture started (SIGTERM, then SIGKILL after ``grace_s``)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class RedisServer:
    """A redis-server on its own port and dir, with AOF so a restart keeps the data."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = base / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 20)

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self.proc = None
        wait_port(self.port, 20, up=False)


def _kafka_classpath() -> str:
    cache = Path(os.environ.get("VIGIL_SIDECAR_TEST_CACHE", "/tmp/vigil-sidecar-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / "kafka-cp.txt"
    if not out.exists() or out.stat().st_size == 0:
        subprocess.run(
            ["mvn", "-q", "-f", str(REPO / "deploy/kafka/pom.xml"), "dependency:build-classpath",
             f"-Dmdep.outputFile={out}"], check=True, timeout=600,
        )
    return out.read_text().strip()


class KafkaServer:
    """A single-node KRaft Kafka 4 (broker + controller) from the Maven jars, own ports and dir."""

    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.ctl_port = free_port()
        self.dir = base / f"kafka-{self.port}"
        self.proc: subprocess.Popen | None = None
        self.cp = _kafka_classpath()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.props = self.dir / "server.properties"
        self.props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.ctl_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.ctl_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.dir / 'data'}", "num.partitions=2",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true", "",
        ]))
        fmt = subprocess.run(
            ["java", "-cp", self.cp, "kafka.tools.StorageTool", "format", "-t", kafka_cluster_id(),
             "-c", str(self.props)],
            capture_output=True, text=True, timeout=120,
        )
        if fmt.returncode != 0:
            raise RuntimeError(f"Kafka StorageTool format failed:\n{(fmt.stdout + fmt.stderr)[-3000:]}")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log4j = self.dir / "log4j2.properties"
        log4j.write_text("rootLogger.level=WARN\nrootLogger.appenderRef.c.ref=C\n"
                         "appender.c.type=Console\nappender.c.name=C\n"
                         "appender.c.layout.type=PatternLayout\nappender.c.layout.pattern=%d %p %c %m%n\n")
        self.proc = subprocess.Popen(
            ["java", "-Xmx384m", "-Xms128m", f"-Dlog4j2.configurationFile={log4j}",
             "-cp", self.cp, "kafka.Kafka", str(self.props)],
            stdout=open(self.dir / "kafka.log", "ab"), stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 90)

    def stop(self) -> None:
        stop_process(self.proc, 60)
        self.proc = None
        wait_port(self.port, 30, up=False)


class SidecarServer:
    """`vigil sidecar` as a subprocess on a free port with the given environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "vigil"), "sidecar", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 60)

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self.proc = None


def wait_for(pred, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll pred() until truthy; return its value or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last_exc!r})")


def tmp_base(name: str) -> Path:
    """A fresh temp dir for one test module's servers."""
    p = Path(f"/tmp/vigil-sidecar-tests/{name}-{os.getpid()}")
    shutil.rmtree(p, ignore_errors=True)
    p.mkdir(parents=True)
    return p


__all__ = ["RedisServer", "KafkaServer", "SidecarServer", "free_port", "wait_port", "wait_for",
           "tmp_base", "threading"]


# --- sidecar-specific helpers -------------------------------------------------------------

TOKEN = "test-write-token-0123456789"


def make_alert(device: str, end_ms: int, *, kind: str = "anomaly", severity: str = "warning",
               status: str = "open", score: float = 0.9, version: str = "v1", closed_end_ms: int | None = None) -> dict:
    """An `anomalies` message built with udfs.schema.Alert (the job's own schema)."""
    from udfs.schema import Alert, ModelRef, iso_ms, make_alert_id

    a = Alert(
        alert_id=make_alert_id(device, end_ms, kind, version), device_id=device, kind=kind,
        severity=severity, status=status, window_start=iso_ms(end_ms - 60_000),
        window_end=iso_ms(closed_end_ms or end_ms), detected_at=iso_ms((closed_end_ms or end_ms) + 50),
        opened_at=iso_ms(end_ms), closed_at=iso_ms(closed_end_ms) if closed_end_ms else None,
        score=score, threshold=0.7, model=ModelRef(name="iforest", version=version),
        top_features=[{"feature": "vibration_rms.std", "contribution": 0.64}],
    )
    import json as _json

    return _json.loads(a.to_json())


def sidecar_env(kafka: str, redis_url: str, tag: str, **extra: str) -> dict[str, str]:
    """Environment for a sidecar isolated by `tag` (own topics, Redis prefix, consumer group)."""
    env = {
        "VIGIL_SIDECAR_KAFKA_BOOTSTRAP": kafka, "VIGIL_SIDECAR_REDIS_URL": redis_url,
        "VIGIL_SIDECAR_KEY_PREFIX": f"t-{tag}", "VIGIL_SIDECAR_CONSUMER_GROUP": f"sidecar-{tag}",
        "VIGIL_SIDECAR_ANOMALIES_TOPIC": f"anomalies-{tag}", "VIGIL_SIDECAR_SCORES_TOPIC": f"scores-{tag}",
        "VIGIL_SIDECAR_READINGS_TOPIC": f"readings-{tag}", "VIGIL_SIDECAR_DLQ_TOPIC": f"dlq-{tag}",
        "VIGIL_SIDECAR_SCORES_ENABLED": "true", "VIGIL_SIDECAR_WRITE_TOKEN": TOKEN,
    }
    env.update(extra)
    return env


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
