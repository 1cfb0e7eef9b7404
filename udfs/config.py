"""Job configuration: ``JobConfig`` from defaults < a JSON/YAML file < ``VIGIL_JOB_*`` env < kwargs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from udfs import schema


class JobConfig(BaseSettings):
    """Every option of the anomaly job and of replay (same object, same semantics).

    Env: ``VIGIL_JOB_<FIELD>`` (case-insensitive; dicts as JSON, e.g.
    ``VIGIL_JOB_OPERATING_LIMITS='{"temperature": [0, 90]}'``). Window size/slide default to
    the bundle's feature spec when ``None``. Fails with pydantic's ValidationError on bad values.

    >>> cfg = JobConfig(window_mode="count", imputation="linear", max_gap=3)
    >>> cfg.delivery_guarantee, cfg.imputation, cfg.topic_anomalies
    ('exactly_once', 'linear', 'anomalies')
    >>> JobConfig(hysteresis=1.5)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for JobConfig
    hysteresis
      Input should be less than or equal to 1 [type=less_than_equal, input_value=1.5, input_type=float]
    ...
    """

    model_config = SettingsConfigDict(env_prefix="VIGIL_JOB_", extra="forbid", case_sensitive=False)

    # Kafka
    bootstrap: str = "127.0.0.1:9092"
    topic_readings: str = schema.TOPIC_READINGS
    topic_dlq: str = schema.TOPIC_DLQ
    topic_anomalies: str = schema.TOPIC_ANOMALIES
    topic_drift: str = schema.TOPIC_DRIFT
    topic_events: str = schema.TOPIC_EVENTS
    topic_scores: str = schema.TOPIC_SCORES
    emit_scores: bool = False
    group_id: str = "vigil-anomaly-job"
    max_message_bytes: int = Field(default=schema.DEFAULT_MAX_BYTES, gt=0)

    # model
    bundle_path: str = "models/iforest"
    score_batch_size: int = Field(default=256, ge=1)
    score_flush_ms: int = Field(default=200, ge=0)  # max wait before a partial batch is scored
    top_k: int = Field(default=3, ge=0)

    # windows: by count (readings, default from the bundle) or by event time (ms)
    window_mode: Literal["count", "time"] = "count"
    window: int | None = Field(default=None, ge=2)
    slide: int | None = Field(default=None, ge=1)
    window_ms: int | None = Field(default=None, gt=0)
    slide_ms: int | None = Field(default=None, gt=0)

    # imputation and stream-level alerts
    imputation: Literal["ffill", "linear", "ewma"] = "ffill"
    ewma_alpha: float = Field(default=0.3, gt=0, le=1)
    max_gap: int = Field(default=5, ge=0)  # readings (grid points in time mode)
    max_gap_ms: int | None = Field(default=None, ge=0)  # time mode: overrides max_gap
    silent_after_ms: int = Field(default=30_000, gt=0)
    stuck_after: int = Field(default=30, ge=2)  # identical consecutive readings → sensor_stuck
    stuck_tolerance: float = Field(default=0.0, ge=0)
    operating_limits: dict[str, tuple[float, float]] = Field(default_factory=dict)
    physical_limits: dict[str, tuple[float, float]] | None = None  # None → schema.DEFAULT_LIMITS

    # event time
    out_of_orderness_ms: int = Field(default=2_000, ge=0)
    allowed_lateness_ms: int = Field(default=5_000, ge=0)
    idle_timeout_ms: int = Field(default=10_000, ge=0)
    state_ttl_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=0)
    # the job's write-back cache of device states in front of RocksDB (per parallel subtask;
    # ~2.9 KB per device at window 60 × 8 sensors, so 384 MB hold ~130k devices); 0 = none
    device_cache_mb: int = Field(default=384, ge=0)

    # alert policy
    threshold_mode: Literal["manifest", "fixed", "likelihood"] = "manifest"
    threshold: float | None = None  # fixed mode (or manifest fallback when the bundle has none)
    hysteresis: float = Field(default=0.9, gt=0, le=1)  # close below T − (1−h)·|T|
    min_duration: int = Field(default=2, ge=1)  # consecutive windows above T to open
    close_after: int = Field(default=2, ge=1)  # consecutive windows below the close level to close
    cooldown_ms: int = Field(default=60_000, ge=0)  # after a close, no reopen within this event time
    critical_margin: float = Field(default=0.5, ge=0)  # score ≥ T + margin·|T| → critical
    likelihood_history: int = Field(default=500, ge=10)
    likelihood_short: int = Field(default=5, ge=1)
    likelihood_min_history: int = Field(default=50, ge=2)
    likelihood_threshold: float = Field(default=0.9999, gt=0, lt=1)

    # delivery, checkpoints, runtime
    delivery_guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    checkpoint_interval_ms: int = Field(default=10_000, gt=0)
    parallelism: int = Field(default=1, ge=1)
    archive_path: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "JobConfig":
        if self.window_mode == "time" and (self.window_ms is None or self.slide_ms is None):
            raise ValueError("window_mode 'time' needs window_ms and slide_ms")
        for name, (lo, hi) in self.operating_limits.items():
            if lo > hi:
                raise ValueError(f"operating_limits[{name!r}]: lo {lo} > hi {hi}")
        return self

    def sensor_limits(self) -> schema.SensorLimits:
        """Physical ranges used by ``parse_reading``."""
        if self.physical_limits is None:
            return schema.DEFAULT_LIMITS
        return schema.SensorLimits(self.physical_limits)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> "JobConfig":
        """Load a JSON or YAML file; ``VIGIL_JOB_*`` env and ``overrides`` win over it."""
        p = Path(path)
        text = p.read_text()
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{p}: expected a mapping at top level")
        env = cls()
        from_env = env.model_dump(include=env.model_fields_set)
        return cls(**{**data, **from_env, **overrides})
