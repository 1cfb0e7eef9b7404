package vigil.flink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import vigil.flink.alerts.AlertLogic;
import vigil.flink.device.DeviceLogic;
import vigil.flink.device.DeviceSettings;
import vigil.flink.schema.ReadingParser;

/**
 * Everything the JVM operators need, read from the JSON that {@code jobs/jvm_ops.py:
 * jvm_settings} writes from the job's {@code JobConfig} and bundle (the Python side resolves
 * every default and derived value, so the two sides cannot disagree about them).
 */
public final class JobSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    public final String json;
    public final DeviceSettings device;
    public final AlertLogic alerts;
    public final Map<String, double[]> limits;
    public final int maxBytes;
    public final long minTsMs;
    public final String topicReadings;
    public final String modelName;
    public final String modelVersion;
    public final boolean emitScores;
    public final boolean archive;
    public final long stateTtlMs;
    public final long deviceCacheMb;
    public final long outOfOrdernessMs;
    public final long idleTimeoutMs;

    public JobSettings(String json) {
        this.json = json;
        JsonNode j;
        try {
            j = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException("vigil job settings are not JSON", e);
        }
        device = new DeviceSettings(j.get("device"));
        alerts = new AlertLogic(j.get("alerts"));
        JsonNode p = j.get("parse");
        limits = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = p.get("limits").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            limits.put(e.getKey(), new double[] {e.getValue().get(0).asDouble(), e.getValue().get(1).asDouble()});
        }
        maxBytes = p.get("max_bytes").asInt();
        minTsMs = p.get("min_ts_ms").asLong();
        topicReadings = j.get("topic_readings").asText();
        modelName = j.get("model").get("name").asText();
        modelVersion = j.get("model").get("version").asText();
        emitScores = j.get("emit_scores").asBoolean();
        archive = j.get("archive").asBoolean();
        stateTtlMs = j.get("state_ttl_ms").asLong();
        deviceCacheMb = j.get("device_cache_mb").asLong();
        outOfOrdernessMs = j.get("out_of_orderness_ms").asLong();
        idleTimeoutMs = j.get("idle_timeout_ms").asLong();
    }

    public ReadingParser parser() {
        return new ReadingParser(limits, maxBytes, minTsMs, device.sensors);
    }

    public DeviceLogic deviceLogic() {
        return new DeviceLogic(device);
    }
}
