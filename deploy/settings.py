"""Settings of the local stack: ports, folders, sizes (pydantic-settings, env prefix ``VIGIL_``).

Every value can be overridden by an environment variable, e.g. ``VIGIL_STATE_DIR=/tmp/s``,
``VIGIL_KAFKA_PORT=19092``. Defaults use loopback only and the ports of the shared brief.

>>> s = StackSettings(state_dir="/tmp/x", kafka_port=19092)
>>> s.kafka_bootstrap
'127.0.0.1:19092'
>>> s.flink_metrics_port_list()[:2]
[9249, 9250]
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Topic name -> partition count created by `vigil stack up` (docs/stack.md lists them).
DEFAULT_TOPICS: dict[str, int] = {
    "sensor-readings": 4,
    "sensor-readings-dlq": 1,
    "anomalies": 2,
    "model-drift": 1,
    "vigil-events": 1,
    "window-scores": 2,
}


def _default_python() -> str:
    """The project venv's python when it exists, else the running interpreter."""
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


class StackSettings(BaseSettings):
    """Where the local stack lives and which loopback ports it uses."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    host: str = "127.0.0.1"
    state_dir: Path = Field(default=REPO_ROOT / ".vigil", description="pids, logs, data, generated configs")
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "vigil", description="Maven-resolved jars (outside the repo)"
    )
    python: str = Field(default_factory=_default_python, description="python used by Flink workers")

    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "768m"

    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    flink_slots: int = 8
    flink_metrics_ports: str = "9249-9260"
    flink_jm_memory: str = "1024m"
    flink_tm_memory: str = "4096m"

    redis_port: int = 6379
    prometheus_port: int = 9090
    sidecar_port: int = 8000
    models_dir: Path = Field(default=REPO_ROOT / "models", description="model bundles (models/<name>/<version>/)")
    live_model: str = Field(default="ocsvm", description="model the demo trains, the job runs and the sidecar scores with")

    topics: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TOPICS))
    health_timeout_s: float = 120.0

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port`` of the Kafka broker listener."""
        return f"{self.host}:{self.kafka_port}"

    @property
    def flink_rest_url(self) -> str:
        """Base URL of the Flink REST API / web UI."""
        return f"http://{self.host}:{self.flink_rest_port}"

    @property
    def redis_url(self) -> str:
        """``redis://`` URL of the Redis server (db 0)."""
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def prometheus_url(self) -> str:
        """Base URL of Prometheus."""
        return f"http://{self.host}:{self.prometheus_port}"

    def flink_metrics_port_list(self) -> list[int]:
        """Ports of the Flink Prometheus reporter range (JobManager takes the first free one)."""
        lo, _, hi = self.flink_metrics_ports.partition("-")
        return list(range(int(lo), int(hi or lo) + 1))
