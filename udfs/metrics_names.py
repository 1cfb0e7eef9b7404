"""Names of the anomaly job's user metrics, so dashboards and tests can import them instead of
repeating strings. The JVM operators register the same strings (``vigil.flink.job.MetricNames``;
tests/test_jvm_equals_udfs.py checks), the scoring UDF (``jobs/score_udf.py``) imports these.

Labelled metrics use a Flink key/value sub-group: ``DLQ_BY_REASON`` under group
``("reason", <reason>)`` and ``ALERTS`` under ``("kind", <kind>)``. Flink's Prometheus
reporter prefixes them with the operator scope, e.g.
``flink_taskmanager_job_task_operator_vigil_readings_in``.
"""

from __future__ import annotations

READINGS_IN = "vigil_readings_in"
READINGS_VALID = "vigil_readings_valid"
DLQ = "vigil_dlq"  # all reasons
DLQ_BY_REASON = "vigil_dlq_by_reason"  # sub-group ("reason", r)
LATE = "vigil_late"
IMPUTED_VALUES = "vigil_imputed_values"
WINDOWS_READY = "vigil_windows_ready"
WINDOWS_SKIPPED = "vigil_windows_skipped"  # gaps longer than max_gap: not scored
DEVICE_CACHE_SIZE = "vigil_device_cache_size"  # devices in the device-windows write-back cache
WINDOWS_SCORED = "vigil_windows_scored"
SCORE_BATCHES = "vigil_score_batches"
SCORE = "vigil_score"  # distribution of oriented scores × 1000
LAST_SCORE_MILLI = "vigil_last_score_milli"
THRESHOLD_MILLI = "vigil_threshold_milli"  # the bundle's global threshold × 1000
DRIFTED_FEATURES = "vigil_drifted_features"  # features over the limits in the last drift report
ALERTS = "vigil_alerts"  # sub-group ("kind", k)
EVENT_TO_ALERT_MS = "vigil_event_to_alert_ms"
LAST_EVENT_TO_ALERT_MS = "vigil_last_event_to_alert_ms"
MODEL_VERSION_NUM = "vigil_model_version_num"

REASON_GROUP = "reason"
KIND_GROUP = "kind"


def prometheus_name(metric: str, scope: str = "flink_taskmanager_job_task_operator") -> str:
    """Prometheus series name of a job metric (labels for sub-groups come as labels).

    >>> prometheus_name(READINGS_IN)
    'flink_taskmanager_job_task_operator_vigil_readings_in'
    """
    return f"{scope}_{metric}"
