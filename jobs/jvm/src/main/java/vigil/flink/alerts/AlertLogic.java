package vigil.flink.alerts;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Serializable;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.commons.numbers.gamma.Erfc;
import vigil.flink.schema.AlertJson;

/**
 * {@code udfs.alerts.AlertPolicy} in the JVM: a device's window scores → open/close anomaly
 * alerts (threshold per device, hysteresis, minimum duration, cooldown, severity, the
 * likelihood mode's online calibration). The module docstring of {@code udfs/alerts.py} is the
 * specification. Stateless itself: it mutates the {@link AlertState} it is given.
 */
public final class AlertLogic implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final long NO_TS = AlertState.NO_TS;

    private final String mode;
    private final Map<String, Double> perDevice = new HashMap<>();
    private final Double fallback;
    private final double hysteresis;
    private final int minDuration;
    private final int closeAfter;
    private final long cooldownMs;
    private final double criticalMargin;
    private final int likelihoodHistory;
    private final int likelihoodShort;
    private final int likelihoodMinHistory;
    private final double likelihoodThreshold;

    /** Settings as {@code udfs.alerts.AlertPolicy.jvm_settings()} writes them. */
    public AlertLogic(JsonNode j) {
        mode = j.get("mode").asText();
        for (Iterator<Map.Entry<String, JsonNode>> it = j.get("per_device").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            perDevice.put(e.getKey(), e.getValue().asDouble());
        }
        JsonNode f = j.get("fallback");
        fallback = f == null || f.isNull() ? null : f.asDouble();
        hysteresis = j.get("hysteresis").asDouble();
        minDuration = j.get("min_duration").asInt();
        closeAfter = j.get("close_after").asInt();
        cooldownMs = j.get("cooldown_ms").asLong();
        criticalMargin = j.get("critical_margin").asDouble();
        likelihoodHistory = j.get("likelihood_history").asInt();
        likelihoodShort = j.get("likelihood_short").asInt();
        likelihoodMinHistory = j.get("likelihood_min_history").asInt();
        likelihoodThreshold = j.get("likelihood_threshold").asDouble();
    }

    public AlertState newState() {
        AlertState a = new AlertState();
        a.hist = new double[mode.equals("likelihood") ? likelihoodHistory : 0];
        return a;
    }

    /** True when some device would have no threshold (the job refuses such a configuration). */
    public boolean lacksThreshold() {
        return !mode.equals("likelihood") && fallback == null;
    }

    public double thresholdFor(String deviceId) {
        if (mode.equals("likelihood")) {
            return likelihoodThreshold;
        }
        Double t = perDevice.get(deviceId);
        if (t == null) {
            t = fallback;
        }
        if (t == null) {
            throw new IllegalStateException("no threshold for device '" + deviceId
                    + "': the bundle has none and VIGIL_JOB_THRESHOLD is unset");
        }
        return t;
    }

    /** {@code udfs.alerts.ring_z}; null before {@code minHistory} scores. */
    static Double ringZ(double[] hist, long n, double score, int shortN, int minHistory) {
        int cap = hist.length;
        int have = (int) Math.min(n, cap);
        if (have < minHistory) {
            return null;
        }
        double sum = 0;
        for (int i = 0; i < have; i++) {
            sum += hist[i];
        }
        double mu = sum / have;
        double ss = 0;
        for (int i = 0; i < have; i++) {
            double dv = hist[i] - mu;
            ss += dv * dv;
        }
        double sd = Math.sqrt(ss / have);
        int k = Math.min(shortN - 1, have);
        double acc = score;
        for (int i = 0; i < k; i++) {
            acc += hist[(int) Math.floorMod(n - 1 - i, (long) cap)];
        }
        double avg = acc / (1 + k);
        return (avg - mu) / Math.max(Math.max(sd, 1e-9 * Math.max(1.0, Math.abs(mu))), 1e-12);
    }

    private double likelihood(AlertState st, double score) {
        if (st.hist.length == 0) { // a state from another threshold mode (restored across a swap)
            st.hist = new double[likelihoodHistory];
        }
        int n = st.hist.length;
        Double z = ringZ(st.hist, st.histN, score, likelihoodShort, likelihoodMinHistory);
        st.hist[(int) (st.histN % n)] = score;
        st.histN++;
        return z == null ? 0.5 : 0.5 * Erfc.value(-z / Math.sqrt(2.0));
    }

    /** The outcome of one scored window. */
    public static final class Decision {
        public double score;
        public double threshold;
        public boolean open;
        /** The alert event this window produced (open or closed), or null. */
        public byte[] alert;
        public String alertStatus;
    }

    /**
     * Feed one window's score ({@code udfs.alerts.AlertPolicy.on_score}). {@code topFeaturesJson}:
     * the window's top features as a JSON array (or null); {@code nowMs}: detection time, or
     * NO_TS for the window end (replay).
     */
    public Decision onScore(AlertState st, String dev, long windowStart, long windowEnd, double score,
                            String modelName, String modelVersion, String topFeaturesJson, double imputed,
                            long nowMs, Decision out) {
        double t = thresholdFor(dev);
        double s = mode.equals("likelihood") ? likelihood(st, score) : score;
        if (!Double.isFinite(s)) {
            s = Double.POSITIVE_INFINITY; // a non-finite score counts as anomalous rather than vanishing
        }
        long at = nowMs == NO_TS ? windowEnd : nowMs;
        out.alert = null;
        out.alertStatus = null;
        if (st.openEnd == NO_TS) {
            if (s >= t) {
                if (st.above == 0) {
                    st.runStart = windowStart;
                }
                st.above++;
            } else {
                st.above = 0;
            }
            boolean cooling = st.lastClose != NO_TS && windowEnd - st.lastClose < cooldownMs;
            if (st.above >= minDuration && !cooling) {
                st.openEnd = windowEnd;
                st.openId = AlertJson.alertId(dev, windowEnd, "anomaly", modelVersion, null);
                st.severity = s >= t + criticalMargin * Math.abs(t) ? "critical" : "warning";
                st.modelName = modelName;
                st.modelVersion = modelVersion;
                st.peak = s;
                st.openScore = s;
                st.openThreshold = t;
                st.below = 0;
                out.alert = make(st, dev, "open", st.runStart, windowEnd, s, t, at, topFeaturesJson, imputed);
                out.alertStatus = "open";
            }
        } else {
            st.peak = Math.max(st.peak, s);
            if (s < t - (1.0 - hysteresis) * Math.abs(t)) {
                st.below++;
            } else {
                st.below = 0;
            }
            if (st.below >= closeAfter) {
                out.alert = make(st, dev, "closed", st.runStart, windowEnd, s, t, at, topFeaturesJson, imputed);
                out.alertStatus = "closed";
                st.openEnd = NO_TS;
                st.lastClose = windowEnd;
                st.above = 0;
                st.below = 0;
                st.openId = "";
            }
        }
        out.score = s;
        out.threshold = t;
        out.open = st.openEnd != NO_TS;
        return out;
    }

    private static byte[] make(AlertState st, String dev, String status, long start, long end, double s, double t,
                               long at, String top, double imputed) {
        boolean open = status.equals("open");
        Double score = Double.isFinite(s) ? (open ? s : st.peak) : null;
        return AlertJson.json(st.openId, dev, "anomaly", st.severity, status, start, st.openEnd, at, st.openEnd,
                open ? null : end, score, t, st.modelName, st.modelVersion, open ? top : null, imputed, null, "");
    }
}
