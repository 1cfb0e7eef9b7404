package vigil.flink.device;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;

/**
 * The per-device rules' settings, as {@code udfs.device_state.Context.jvm_settings()} computes
 * them (every derived value comes from Python, so nothing is re-derived here).
 */
public final class DeviceSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    public final String[] sensors;
    public final int s;
    public final int t;
    public final int slide;
    public final boolean timeMode;
    public final long windowMs;
    public final long slideMs;
    public final int maxGap;
    public final double[] opLo;
    public final double[] opHi;
    public final int stuckAfter;
    public final double stuckTolerance;
    public final long silentAfterMs;
    public final long outOfOrdernessMs;
    public final long allowedLatenessMs;
    /** The sensor layout as state stores it: names joined by U+001F, UTF-8. */
    public final byte[] layout;
    /** {@link DeviceStateCodec#layoutHash} of {@link #layout}, computed once (headers carry it). */
    public final long layoutHash;

    public DeviceSettings(JsonNode j) {
        JsonNode names = j.get("sensors");
        sensors = new String[names.size()];
        for (int i = 0; i < sensors.length; i++) {
            sensors[i] = names.get(i).asText();
        }
        s = sensors.length;
        t = j.get("T").asInt();
        slide = j.get("slide").asInt();
        timeMode = j.get("time_mode").asBoolean();
        windowMs = j.get("window_ms").asLong();
        slideMs = j.get("slide_ms").asLong();
        maxGap = j.get("max_gap").asInt();
        opLo = doubles(j.get("op_lo"), Double.NEGATIVE_INFINITY);
        opHi = doubles(j.get("op_hi"), Double.POSITIVE_INFINITY);
        stuckAfter = j.get("stuck_after").asInt();
        stuckTolerance = j.get("stuck_tolerance").asDouble();
        silentAfterMs = j.get("silent_after_ms").asLong();
        outOfOrdernessMs = j.get("out_of_orderness_ms").asLong();
        allowedLatenessMs = j.get("allowed_lateness_ms").asLong();
        layout = String.join("\u001f", sensors).getBytes(StandardCharsets.UTF_8);
        layoutHash = DeviceStateCodec.layoutHash(layout);
    }

    /** A JSON array of numbers; null entries (no limit) become {@code unbounded}. */
    static double[] doubles(JsonNode a, double unbounded) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = a.get(i);
            out[i] = v == null || v.isNull() ? unbounded : v.asDouble();
        }
        return out;
    }

    /** A fresh buffer of this layout. */
    RingBuffer newBuffer() {
        return timeMode ? new RingBuffer(Math.max(2 * t, 64), s, true) : new RingBuffer(t, s, false);
    }
}
