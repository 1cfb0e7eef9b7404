package vigil.flink.job;

/**
 * The job's user metric names, as in {@code udfs/metrics_names.py} (dashboards and tests read
 * those; tests/test_jvm_equals_udfs.py checks these are the same strings).
 */
public final class MetricNames {

    public static final String READINGS_IN = "vigil_readings_in";
    public static final String READINGS_VALID = "vigil_readings_valid";
    public static final String DLQ = "vigil_dlq";
    public static final String DLQ_BY_REASON = "vigil_dlq_by_reason";
    public static final String LATE = "vigil_late";
    public static final String WINDOWS_READY = "vigil_windows_ready";
    public static final String WINDOWS_SKIPPED = "vigil_windows_skipped";
    public static final String DEVICE_CACHE_SIZE = "vigil_device_cache_size";
    public static final String ALERTS = "vigil_alerts";
    public static final String EVENT_TO_ALERT_MS = "vigil_event_to_alert_ms";
    public static final String LAST_EVENT_TO_ALERT_MS = "vigil_last_event_to_alert_ms";
    public static final String MODEL_VERSION_NUM = "vigil_model_version_num";
    public static final String REASON_GROUP = "reason";
    public static final String KIND_GROUP = "kind";

    private MetricNames() {}
}
