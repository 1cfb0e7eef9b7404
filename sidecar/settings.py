"""Sidecar configuration from the environment (prefix `VIGIL_SIDECAR_`).

Lists and nested models are given as JSON, e.g.
`VIGIL_SIDECAR_WRITE_TOKEN_HASHES='["<sha256 hex>"]'` or
`VIGIL_SIDECAR_WEBHOOKS='[{"url": "https://…", "secret": "s", "severities": ["critical"]}]'`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SEVERITIES = ("info", "warning", "critical")


class WebhookRoute(BaseModel):
    """One webhook target; alerts whose severity is in `severities` are POSTed to `url`."""

    url: str
    secret: str = Field("", description="HMAC-SHA256 key for the X-Vigil-Signature header")
    severities: list[str] = Field(default_factory=lambda: ["warning", "critical"])


class EmailRoute(BaseModel):
    """One e-mail route: alerts whose severity is in `severities` go to `to`."""

    to: list[str]
    severities: list[str] = Field(default_factory=lambda: ["critical"])


class SidecarSettings(BaseSettings):
    """Everything the sidecar reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_SIDECAR_", extra="ignore")

    # connections
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 1.0
    key_prefix: str = Field("vigil", description="Redis key prefix (lets tests and benches share a Redis)")
    # consumer
    consume: bool = Field(True, description="run the anomalies (and window-scores) consumer")
    consumer_group: str = "vigil-sidecar"
    anomalies_topic: str = "anomalies"
    scores_topic: str = "window-scores"
    scores_enabled: bool = Field(False, description="consume per-window scores for device status")
    readings_topic: str = "sensor-readings"
    dlq_topic: str = "sensor-readings-dlq"
    retention_days: float = Field(30.0, description="alerts older than this are deleted")
    scores_per_device: int = Field(2000, description="recent scores kept per device for the chart")
    events_maxlen: int = Field(100_000, description="length of the SSE event stream kept for resume")
    # scoring
    bundle_path: Path | None = Field(None, description="model dir or version dir for POST /v1/score")
    # security
    write_token: SecretStr | None = Field(None, description="plain write token (hashed at start-up)")
    write_token_hashes: list[str] = Field(default_factory=list, description="sha256 hex of write tokens")
    read_token_hashes: list[str] = Field(default_factory=list, description="sha256 hex of read tokens")
    read_auth: bool = Field(False, description="require a token (read or write) for GET endpoints")
    max_body_bytes: int = 1_048_576
    max_batch: int = 5000
    cors_origins: list[str] = Field(default_factory=list)
    # notifications
    webhooks: list[WebhookRoute] = Field(default_factory=list)
    webhook_retries: int = 4
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    emails: list[EmailRoute] = Field(default_factory=list)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "vigil@localhost"
    notify_rate_per_device: int = Field(5, description="max notifications per device per window")
    notify_rate_window_s: int = 300
    public_url: str = Field("http://127.0.0.1:8000", description="base URL used in notification links")
