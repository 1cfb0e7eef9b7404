package vigil.flink.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import vigil.flink.alerts.AlertLogic;
import vigil.flink.alerts.AlertState;
import vigil.flink.alerts.AlertStateSerializer;
import vigil.flink.schema.JsonText;

/**
 * Keyed by device again, after batch scoring: {@link AlertLogic} over one {@link AlertState} per
 * device → anomaly open/close events (main output), optional per-window scores
 * ({@link Records#SCORES}) and the drift reports riding on scored rows ({@link Records#DRIFT}).
 * Windows the scoring step skipped (a gap longer than max_gap) do not reach the policy, as in
 * replay. Records event-to-alert latency.
 */
public final class AlertFunction extends KeyedProcessFunction<String, Row, Row> {

    private static final long serialVersionUID = 1L;

    private final JobSettings settings;
    private transient AlertLogic logic;
    private transient ValueState<AlertState> state;
    private transient AlertLogic.Decision decision;
    private transient Counter alerts;
    private transient Counter skipped;
    private transient Histogram latency;
    private transient volatile long lastLatency;
    private transient ObjectMapper mapper;

    public AlertFunction(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        logic = settings.alerts;
        ValueStateDescriptor<AlertState> desc = new ValueStateDescriptor<>("vigil-alert", AlertStateSerializer.INSTANCE);
        if (settings.stateTtlMs > 0) {
            desc.enableTimeToLive(StateTtlConfig.newBuilder(Duration.ofMillis(settings.stateTtlMs))
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .cleanupFullSnapshot()
                    .build());
        }
        state = getRuntimeContext().getState(desc);
        decision = new AlertLogic.Decision();
        mapper = new ObjectMapper();
        MetricGroup g = getRuntimeContext().getMetricGroup();
        alerts = g.addGroup(MetricNames.KIND_GROUP, "anomaly").counter(MetricNames.ALERTS);
        skipped = g.counter(MetricNames.WINDOWS_SKIPPED);
        latency = g.histogram(MetricNames.EVENT_TO_ALERT_MS, new DescriptiveStatisticsHistogram(1000));
        g.gauge(MetricNames.LAST_EVENT_TO_ALERT_MS, (Gauge<Long>) () -> lastLatency);
        long version = versionNumber(settings.modelVersion);
        g.gauge(MetricNames.MODEL_VERSION_NUM, (Gauge<Long>) () -> version);
    }

    /** The digits of the model version (a UTC timestamp) as a number, for dashboards. */
    static long versionNumber(String v) {
        StringBuilder sb = new StringBuilder();
        for (char c : v.toCharArray()) {
            if (c >= '0' && c <= '9' && sb.length() < 15) {
                sb.append(c);
            }
        }
        return sb.length() == 0 ? 0 : Long.parseLong(sb.toString());
    }

    @Override
    public void processElement(Row value, Context ctx, Collector<Row> out) throws Exception {
        String dev = (String) value.getField(0);
        long start = (Long) value.getField(1);
        long end = (Long) value.getField(2);
        Row r = (Row) value.getField(4);
        Double score = (Double) r.getField(0);
        Boolean ok = (Boolean) r.getField(1);
        double imputed = r.getField(2) == null ? 0.0 : (Double) r.getField(2);
        String top = (String) r.getField(3);
        String drift = (String) r.getField(4);
        long now = System.currentTimeMillis();
        if (drift != null && !drift.isEmpty()) {
            emitDrift(drift, now, ctx);
        }
        if (ok == null || !ok || score == null) {
            skipped.inc();
            return;
        }
        AlertState st = state.value();
        if (st == null) {
            st = logic.newState();
        }
        AlertLogic.Decision d = logic.onScore(st, dev, start, end, score, settings.modelName, settings.modelVersion,
                top == null || top.isEmpty() ? null : top, imputed, now, decision);
        state.update(st);
        if (d.alert != null) {
            alerts.inc();
            lastLatency = Math.max(0, now - end);
            latency.update(lastLatency);
            out.collect(Row.of(dev, d.alert));
        }
        if (settings.emitScores) {
            StringBuilder sb = new StringBuilder(256).append("{\"device_id\": ");
            JsonText.quote(sb, dev).append(", \"window_start_ms\": ").append(start).append(", \"window_end_ms\": ")
                    .append(end).append(", \"score\": ");
            JsonText.number(sb, d.score).append(", \"threshold\": ");
            JsonText.number(sb, d.threshold).append(", \"open\": ").append(d.open).append(", \"imputed_fraction\": ");
            JsonText.number(sb, imputed).append(", \"model\": {\"name\": ");
            JsonText.quote(sb, settings.modelName).append(", \"version\": ");
            JsonText.quote(sb, settings.modelVersion).append("}}");
            ctx.output(Records.SCORES, Records.keyed(dev, sb.toString().getBytes(StandardCharsets.UTF_8)));
        }
    }

    private void emitDrift(String drift, long now, Context ctx) throws Exception {
        for (JsonNode rec : mapper.readTree(drift)) {
            ((ObjectNode) rec).put("at_ms", now);
            ctx.output(Records.DRIFT, Records.keyed(rec.path("feature").asText(null),
                    mapper.writeValueAsBytes(rec)));
        }
    }
}
