"""The local stack: Kafka (KRaft), a Flink standalone cluster, Redis, Prometheus and the sidecar on loopback.

Python API used by the CLI, the test fixtures and the other parts::

    from deploy.stack import Stack
    stack = Stack()                 # StackSettings() from VIGIL_* env vars
    stack.up()                      # idempotent; returns one ServiceStatus per service
    stack.kafka_bootstrap, stack.flink_rest_url, stack.redis_url, stack.prometheus_url
    stack.down()                    # stops only the processes this state folder started

Nothing is ever stopped by name: only recorded pids whose start time and command line still
match (see :mod:`deploy.procs`). A service already answering on its port but not started by
us is reported as ``external`` and used as is.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy import artifacts
from deploy.procs import ProcessRegistry, tail
from deploy.services import SERVICE_CLASSES, Service, flink_env, port_open, write_flink_conf
from deploy.settings import StackSettings

SERVICE_NAMES: list[str] = list(SERVICE_CLASSES)
#: Services that consume or produce the stack's topics: started after the topics are created.
TOPIC_CLIENTS = {"sidecar"}
ALIASES: dict[str, list[str]] = {"flink": ["flink-jobmanager", "flink-taskmanager"], "all": SERVICE_NAMES}

flink_home = artifacts.flink_home
flink_bin = artifacts.flink_bin


class StackError(RuntimeError):
    """A service did not come up; the message names its log and shows its last lines."""


@dataclass
class ServiceStatus:
    """One row of the status table."""

    name: str
    address: str
    state: str  # started | running | external | stopped | failed
    pid: int | None
    log: str
    healthy: bool


def resolve_names(services: Iterable[str] | None) -> list[str]:
    """Expand aliases (``flink``, ``all``) and validate names; keeps the stack's start order.

    >>> resolve_names(["redis", "flink"])
    ['flink-jobmanager', 'flink-taskmanager', 'redis']
    """
    if not services:
        return list(SERVICE_NAMES)
    wanted: set[str] = set()
    for s in services:
        if s in ALIASES:
            wanted.update(ALIASES[s])
        elif s in SERVICE_CLASSES:
            wanted.add(s)
        else:
            raise ValueError(f"unknown service {s!r}; choose from {', '.join([*SERVICE_NAMES, *ALIASES])}")
    return [n for n in SERVICE_NAMES if n in wanted]


class Stack:
    """The local stack of one state folder."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.state_dir = self.settings.state_dir
        self.registry = ProcessRegistry(self.state_dir / "run")
        self.services: dict[str, Service] = {n: cls(self.settings) for n, cls in SERVICE_CLASSES.items()}

    # -- addresses -------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        """``127.0.0.1:9092`` by default."""
        return self.settings.kafka_bootstrap

    @property
    def flink_rest_url(self) -> str:
        """``http://127.0.0.1:8081`` by default (also the Flink web UI)."""
        return self.settings.flink_rest_url

    @property
    def redis_url(self) -> str:
        """``redis://127.0.0.1:6379/0`` by default."""
        return self.settings.redis_url

    @property
    def prometheus_url(self) -> str:
        """``http://127.0.0.1:9090`` by default."""
        return self.settings.prometheus_url

    @property
    def flink_conf_dir(self) -> Path:
        """Generated FLINK_CONF_DIR of this stack."""
        return self.state_dir / "flink" / "conf"

    def connector_jar(self) -> Path:
        """The Flink Kafka connector jar (already on the stack cluster's classpath)."""
        return artifacts.connector_jar(self.settings.cache_dir)

    def flink_env(self) -> dict[str, str]:
        """Environment for running the wheel's ``flink`` CLI against this stack.

        Uses the conf the launcher generated; writes one only when there is none (a client of a
        cluster this state folder did not start, e.g. in a container), so a client with other
        settings never rewrites the running cluster's configuration.
        """
        if not (self.flink_conf_dir / "config.yaml").exists() or not (self.state_dir / "flink" / "lib").is_dir():
            write_flink_conf(self.settings)
        return flink_env(self.settings)

    def log_path(self, name: str) -> Path:
        """Log file of a service."""
        return self.services[resolve_names([name])[0]].log

    # -- lifecycle -------------------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down of one state folder across processes (several engineers, pytest -n)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "stack.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _row(self, name: str, state: str, healthy: bool) -> ServiceStatus:
        svc = self.services[name]
        rec = self.registry.get(name)
        return ServiceStatus(name, svc.address, state, rec.pid if rec else None, str(svc.log), healthy)

    def up(self, services: Iterable[str] | None = None, *, progress=None) -> list[ServiceStatus]:
        """Start what is not running, wait for health, create the topics. Idempotent.

        ``progress`` (callable taking a message) reports slow steps. Raises :class:`StackError`
        naming the log of a service that does not come up. :attr:`started` afterwards lists the
        services this call started (the test fixture stops only those).
        """
        say = progress or (lambda _m: None)
        names = resolve_names(services)
        self.started: list[str] = []
        with self._lock():
            states: dict[str, str] = {}
            to_start: list[str] = []
            for name in names:
                svc = self.services[name]
                if self.registry.get(name) is not None:
                    states[name] = "running"
                elif name == "flink-taskmanager" and states.get("flink-jobmanager") == "external":
                    states[name] = "external"  # someone else's cluster: its TaskManagers are its own
                elif name == "flink-taskmanager" and self.registry.get("flink-jobmanager") is None \
                        and "flink-jobmanager" not in names and svc.healthy():
                    states[name] = "external"
                elif svc.port and port_open(self.settings.host, svc.port):
                    states[name] = "external"
                else:
                    to_start.append(name)
            for name in to_start:
                svc = self.services[name]
                say(f"preparing {name}")
                svc.prepare()
            # Topic clients (the sidecar) start only once the topics exist: a consumer that
            # subscribes first makes the broker auto-create its topic with one partition.
            early = [n for n in names if n not in TOPIC_CLIENTS]
            late = [n for n in names if n in TOPIC_CLIENTS]
            for phase in (early, late):
                for name in [n for n in to_start if n in phase]:
                    svc = self.services[name]
                    say(f"starting {name}")
                    self.registry.start(name, svc.argv(), log=svc.log, token=svc.token, env=svc.env())
                    states[name] = "started"
                    self.started.append(name)
                self._wait_healthy(phase, say)
                if phase is early and "kafka" in names:
                    self.create_topics(self.settings.topics)
            return [self._row(n, states[n], True) for n in names]

    def _wait_healthy(self, names: list[str], say) -> None:
        deadline = time.monotonic() + self.settings.health_timeout_s
        pending = list(names)
        announced = False
        while pending:
            for name in list(pending):
                svc = self.services[name]
                if svc.healthy():
                    pending.remove(name)
                    continue
                if self.registry.get(name) is None and not (svc.port and port_open(self.settings.host, svc.port)):
                    raise StackError(self._failure(name, "exited during start-up"))
            if not pending:
                break
            if time.monotonic() > deadline:
                raise StackError(self._failure(pending[0], f"not healthy after {self.settings.health_timeout_s:.0f} s"))
            if not announced:
                say(f"waiting for {', '.join(pending)}")
                announced = True
            time.sleep(0.3)

    def _failure(self, name: str, why: str) -> str:
        log = self.services[name].log
        return f"{name} {why}. Log: {log}\n--- last lines of {log} ---\n{tail(log, 25)}"

    def down(self, services: Iterable[str] | None = None) -> list[str]:
        """Stop the given (default: all) services this state folder started; returns their names."""
        names = resolve_names(services)
        stopped: list[str] = []
        with self._lock():
            # TaskManager before JobManager, and consumers of Kafka before Kafka.
            for name in reversed(names):
                if self.registry.stop(name):
                    stopped.append(name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        """Current state of every service (no side effects)."""
        rows = []
        for name, svc in self.services.items():
            healthy = svc.healthy()
            if self.registry.get(name) is not None:
                state = "running" if healthy else "unhealthy"
            elif svc.port and port_open(self.settings.host, svc.port):
                state = "external"
            elif name == "flink-taskmanager" and healthy:
                state = "external"
            else:
                state = "stopped"
            rows.append(self._row(name, state, healthy))
        return rows

    def is_up(self) -> bool:
        """True when every service answers its health probe (ours or external)."""
        return all(svc.healthy() for svc in self.services.values())

    # -- topics ----------------------------------------------------------------------------
    def create_topics(self, topics: dict[str, int]) -> list[str]:
        """Create missing topics (name -> partitions, replication 1); returns the ones created."""
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, client_id="vigil-stack")
        try:
            existing = set(admin.list_topics())
            new = [NewTopic(t, num_partitions=p, replication_factor=1) for t, p in topics.items() if t not in existing]
            if new:
                try:
                    admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass  # a concurrent creator won the race
            return [t.name for t in new]
        finally:
            admin.close()


# -- leases: several test sessions may share one stack ----------------------------------------
def _lease_dir(settings: StackSettings) -> Path:
    d = settings.state_dir / "leases"
    d.mkdir(parents=True, exist_ok=True)
    return d


def take_lease(settings: StackSettings) -> Path:
    """Record that this process uses the stack (so another session's teardown leaves it up)."""
    path = _lease_dir(settings) / f"{os.getpid()}.json"
    path.write_text(json.dumps({"pid": os.getpid(), "since": time.time()}))
    return path


def other_live_leases(settings: StackSettings) -> list[int]:
    """Pids of other processes holding a lease that are still alive (stale leases are removed)."""
    pids = []
    for f in _lease_dir(settings).glob("*.json"):
        try:
            pid = int(json.loads(f.read_text())["pid"])
        except (ValueError, KeyError, OSError):
            f.unlink(missing_ok=True)
            continue
        if pid == os.getpid():
            continue
        if Path(f"/proc/{pid}").exists():
            pids.append(pid)
        else:
            f.unlink(missing_ok=True)
    return pids
