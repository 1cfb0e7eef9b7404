package vigil.flink.job;

/** Settings JSON as {@code jobs/jvm_ops.py: jvm_settings} writes it, for the operator tests. */
final class TestSettings {

    private TestSettings() {}

    /** Two sensors, count windows of 4 sliding by 2, fixed threshold 1.0, silence after 10 s. */
    static JobSettings of(boolean emitScores, boolean archive) {
        return of(emitScores, archive, 604_800_000L);
    }

    /** The same with state expiring {@code stateTtlMs} after its last write. */
    static JobSettings of(boolean emitScores, boolean archive, long stateTtlMs) {
        return new JobSettings("{"
                + "\"device\": {\"sensors\": [\"a\", \"b\"], \"T\": 4, \"slide\": 2, \"time_mode\": false,"
                + " \"window_ms\": 0, \"slide_ms\": 0, \"max_gap\": 2, \"op_lo\": [null, 0.0], \"op_hi\": [null, 10.0],"
                + " \"stuck_after\": 30, \"stuck_tolerance\": 0.0, \"silent_after_ms\": 10000,"
                + " \"out_of_orderness_ms\": 1000, \"allowed_lateness_ms\": 1000},"
                + "\"alerts\": {\"mode\": \"fixed\", \"per_device\": {}, \"fallback\": 1.0, \"hysteresis\": 0.9,"
                + " \"min_duration\": 2, \"close_after\": 1, \"cooldown_ms\": 0, \"critical_margin\": 0.5,"
                + " \"likelihood_history\": 50, \"likelihood_short\": 5, \"likelihood_min_history\": 10,"
                + " \"likelihood_threshold\": 0.9999},"
                + "\"parse\": {\"limits\": {\"a\": [-100.0, 100.0]}, \"max_bytes\": 65536, \"min_ts_ms\": 0},"
                + "\"topic_readings\": \"sensor-readings\", \"model\": {\"name\": \"m\", \"version\": \"2026-12-06T10-00-00\"},"
                + "\"emit_scores\": " + emitScores + ", \"archive\": " + archive + ","
                + "\"state_ttl_ms\": " + stateTtlMs + ", \"device_cache_mb\": 16, \"out_of_orderness_ms\": 1000, \"idle_timeout_ms\": 0}");
    }
}
