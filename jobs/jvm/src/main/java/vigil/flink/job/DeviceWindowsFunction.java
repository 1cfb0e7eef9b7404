package vigil.flink.job;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import vigil.flink.device.DeviceLogic;
import vigil.flink.device.DeviceState;
import vigil.flink.device.DeviceStateSerializer;
import vigil.flink.schema.DlqRecord;
import vigil.flink.schema.Reading;
import vigil.flink.schema.Reasons;

/**
 * Keyed by device: {@link DeviceLogic} over one {@link DeviceState} per device (ValueState, TTL
 * for devices silent longer than {@code state_ttl_ms}). Emits raw windows (main output), stream-
 * level alerts ({@link Records#STREAM_ALERTS}) and late readings ({@link Records#DLQ}, reason
 * {@code late}, the original payload); event-time timers raise {@code stream_silent}.
 *
 * <p>One pending timer per device: registered at its first reading and re-armed when it fires
 * early (readings moved the deadline) or when a silence closes; a timer per reading would cost a
 * timer-state write per record.
 */
public final class DeviceWindowsFunction extends KeyedProcessFunction<String, Reading, Row> {

    private static final long serialVersionUID = 1L;
    private static final long NO_TS = DeviceState.NO_TS;

    private final JobSettings settings;
    private transient DeviceLogic logic;
    private transient ValueState<DeviceState> state;
    private transient MetricGroup group;
    private transient Counter late;
    private transient Counter windows;
    private transient Counter dlq;
    private transient Counter dlqLate;
    private transient Map<String, Counter> alertsBy;

    public DeviceWindowsFunction(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        logic = settings.deviceLogic();
        ValueStateDescriptor<DeviceState> desc = new ValueStateDescriptor<>("vigil-device", DeviceStateSerializer.INSTANCE);
        if (settings.stateTtlMs > 0) {
            desc.enableTimeToLive(StateTtlConfig.newBuilder(Duration.ofMillis(settings.stateTtlMs))
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .cleanupFullSnapshot()
                    .build());
        }
        state = getRuntimeContext().getState(desc);
        group = getRuntimeContext().getMetricGroup();
        late = group.counter(MetricNames.LATE);
        windows = group.counter(MetricNames.WINDOWS_READY);
        dlq = group.counter(MetricNames.DLQ);
        dlqLate = group.addGroup(MetricNames.REASON_GROUP, Reasons.LATE).counter(MetricNames.DLQ_BY_REASON);
        alertsBy = new HashMap<>();
    }

    @Override
    public void processElement(Reading r, Context ctx, Collector<Row> out) throws Exception {
        DeviceState d = state.value();
        boolean first = d == null;
        d = first ? logic.fresh() : logic.adapt(d);
        DeviceLogic.Step step = logic.onReading(d, r.deviceId, r.ts, r.values, System.currentTimeMillis());
        if (step.late) {
            late.inc();
            dlq.inc();
            dlqLate.inc();
            byte[] rec = DlqRecord.json(Reasons.LATE, step.lateDetail, r.raw, settings.topicReadings, r.partition,
                    r.offset, System.currentTimeMillis());
            ctx.output(Records.DLQ, Records.keyed(r.deviceId, rec));
            return;
        }
        state.update(d);
        if (first || step.silenceClosed) {
            long nt = logic.nextTimer(d);
            if (nt != NO_TS) {
                ctx.timerService().registerEventTimeTimer(nt);
            }
        }
        emit(r.deviceId, step, ctx, out);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
        DeviceState d = state.value();
        if (d == null) { // expired (TTL) or never written
            return;
        }
        d = logic.adapt(d);
        String dev = ctx.getCurrentKey();
        DeviceLogic.Step step = logic.onTimer(d, dev, timestamp);
        if (!step.alerts.isEmpty()) {
            state.update(d);
            emitAlerts(dev, step, ctx);
            return;
        }
        long nt = logic.nextTimer(d);
        if (nt != NO_TS && nt > timestamp) { // readings moved the deadline: re-arm once
            ctx.timerService().registerEventTimeTimer(nt);
        }
    }

    private void emit(String dev, DeviceLogic.Step step, Context ctx, Collector<Row> out) {
        emitAlerts(dev, step, ctx);
        for (DeviceLogic.WindowOut w : step.windows) {
            windows.inc();
            ByteBuffer b = ByteBuffer.allocate(4 * w.values.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(w.values);
            out.collect(Row.of(dev, w.start, w.end, w.nReadings, b.array()));
        }
    }

    private void emitAlerts(String dev, DeviceLogic.Step step, Context ctx) {
        for (DeviceLogic.AlertOut a : step.alerts) {
            alertsBy.computeIfAbsent(a.kind, k -> group.addGroup(MetricNames.KIND_GROUP, k)
                    .counter(MetricNames.ALERTS)).inc();
            ctx.output(Records.STREAM_ALERTS, Records.keyed(dev, a.json));
        }
    }
}
