package vigil.flink.schema;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The {@code anomalies} message of {@code udfs.schema.Alert} (same keys, same order) and its
 * deterministic id ({@code udfs.schema.make_alert_id}).
 */
public final class AlertJson {

    private static final char[] HEX = "0123456789abcdef".toCharArray();
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });

    private AlertJson() {}

    /** sha256(device \x1f window_end \x1f kind \x1f model_version [\x1f sensor]) → 32 hex chars. */
    public static String alertId(String deviceId, long windowEndMs, String kind, String modelVersion, String sensor) {
        StringBuilder sb = new StringBuilder(64).append(deviceId).append('\u001f').append(windowEndMs)
                .append('\u001f').append(kind).append('\u001f').append(modelVersion);
        if (sensor != null && !sensor.isEmpty()) {
            sb.append('\u001f').append(sensor);
        }
        byte[] h = SHA256.get().digest(sb.toString().getBytes(StandardCharsets.UTF_8));
        char[] out = new char[32];
        for (int i = 0; i < 16; i++) {
            out[2 * i] = HEX[(h[i] >> 4) & 15];
            out[2 * i + 1] = HEX[h[i] & 15];
        }
        return new String(out);
    }

    /**
     * One alert event as JSON bytes. {@code score}/{@code threshold} may be null; {@code model}
     * is null for stream-level kinds ({@code modelName == null}); {@code topFeaturesJson} is a
     * JSON array or null (written as []); {@code closedAt} null while open.
     */
    public static byte[] json(String alertId, String deviceId, String kind, String severity, String status,
                              long windowStart, long windowEnd, long detectedAt, long openedAt, Long closedAt,
                              Double score, Double threshold, String modelName, String modelVersion,
                              String topFeaturesJson, double imputedFraction, String sensor, String detail) {
        StringBuilder sb = new StringBuilder(512).append("{\"alert_id\": ");
        JsonText.quote(sb, alertId).append(", \"device_id\": ");
        JsonText.quote(sb, deviceId).append(", \"kind\": \"").append(kind)
                .append("\", \"severity\": \"").append(severity).append("\", \"status\": \"").append(status)
                .append("\", \"window_start\": \"").append(IsoMs.format(windowStart))
                .append("\", \"window_end\": \"").append(IsoMs.format(windowEnd))
                .append("\", \"detected_at\": \"").append(IsoMs.format(detectedAt))
                .append("\", \"opened_at\": \"").append(IsoMs.format(openedAt)).append("\", \"closed_at\": ");
        if (closedAt == null) {
            sb.append("null");
        } else {
            sb.append('"').append(IsoMs.format(closedAt)).append('"');
        }
        sb.append(", \"score\": ");
        if (score == null) {
            sb.append("null");
        } else {
            JsonText.number(sb, score);
        }
        sb.append(", \"threshold\": ");
        if (threshold == null) {
            sb.append("null");
        } else {
            JsonText.number(sb, threshold);
        }
        sb.append(", \"model\": ");
        if (modelName == null) {
            sb.append("null");
        } else {
            sb.append("{\"name\": ");
            JsonText.quote(sb, modelName).append(", \"version\": ");
            JsonText.quote(sb, modelVersion).append('}');
        }
        sb.append(", \"top_features\": ").append(topFeaturesJson == null ? "[]" : topFeaturesJson)
                .append(", \"imputed_fraction\": ");
        JsonText.number(sb, imputedFraction).append(", \"sensor\": ");
        if (sensor == null) {
            sb.append("null");
        } else {
            JsonText.quote(sb, sensor);
        }
        sb.append(", \"detail\": ");
        JsonText.quote(sb, detail == null ? "" : detail).append(", \"event_id\": ");
        JsonText.quote(sb, alertId + ":" + status).append('}');
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
