package vigil.flink.job;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;
import vigil.flink.device.DeviceLogic;
import vigil.flink.device.DeviceState;
import vigil.flink.device.DeviceStateCodec;
import vigil.flink.device.RingBuffer;
import vigil.flink.schema.DlqRecord;
import vigil.flink.schema.Reading;
import vigil.flink.schema.Reasons;

/**
 * Keyed by device: {@link DeviceLogic} over one {@link DeviceState} per device. Emits raw windows
 * (main output), stream-level alerts ({@link Records#STREAM_ALERTS}) and late readings
 * ({@link Records#DLQ}, reason {@code late}, the original payload); event-time timers raise
 * {@code stream_silent}.
 *
 * <p><b>State.</b> The devices' states live in keyed state (RocksDB by default; TTL for devices
 * silent longer than {@code state_ttl_ms}) as {@link DeviceStateCodec} lays them out: a small
 * header and one entry per buffer row. In front of it sits a write-back cache of recently used
 * devices, bounded by {@code device_cache_mb}: a reading of a cached device touches no state
 * backend, and what changed (the header and the dirty rows, usually one) goes to keyed state
 * before every checkpoint barrier ({@link #prepareSnapshotPreBarrier}) and when a device is
 * evicted. So checkpoints hold exactly what the operator saw, and RocksDB sees ~150 bytes per
 * changed device per checkpoint instead of a read and a 2.4 KB write per reading (measured:
 * the job's largest cost with RocksDB, docs/job.md). The cache is the technique of Flink's own
 * mini-batch operators; it needs an operator (a process function cannot write another key's
 * state). The sensor layouts the headers name are kept in operator state, so states written
 * under another model's sensors are remapped by name after a restore.
 *
 * <p><b>Timers.</b> One pending timer per device: registered at its first reading and re-armed
 * when it fires early (readings moved the deadline) or when a silence closes; a timer per reading
 * would cost a timer-state write per record.
 */
public final class DeviceWindowsOperator extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<Reading, Row>, Triggerable<String, VoidNamespace> {

    private static final long serialVersionUID = 1L;
    private static final long NO_TS = DeviceState.NO_TS;

    private final JobSettings settings;
    private final int capacityOverride;
    private transient DeviceLogic logic;
    private transient ValueState<byte[]> header;
    private transient MapState<Integer, byte[]> rows;
    private transient ListState<String> layoutsState;
    private transient Map<Long, byte[]> layouts;
    private transient InternalTimerService<VoidNamespace> timers;
    private transient LinkedHashMap<String, Cached> cache;
    private transient int cacheCapacity;
    private transient MetricGroup group;
    private transient Counter late;
    private transient Counter windows;
    private transient Counter dlq;
    private transient Counter dlqLate;
    private transient Map<String, Counter> alertsBy;

    /** A cached device state and whether keyed state is behind it. */
    private static final class Cached {
        final DeviceState d;
        boolean dirty;
        /** Its keyed state holds rows of another layout: clear them before writing. */
        boolean replace;
        /** Processing time of its last change (or of its load): the cache's TTL clock. */
        long touched;

        Cached(DeviceState d, boolean dirty, boolean replace, long touched) {
            this.d = d;
            this.dirty = dirty;
            this.replace = replace;
            this.touched = touched;
        }
    }

    public DeviceWindowsOperator(JobSettings settings) {
        this(settings, -1);
    }

    /** With the cache holding at most {@code cacheDevices} devices (tests of the write-back). */
    DeviceWindowsOperator(JobSettings settings, int cacheDevices) {
        this.settings = settings;
        this.capacityOverride = cacheDevices;
    }

    /** Devices the cache holds: {@code device_cache_mb} over an estimate of one device's state. */
    static int cacheCapacity(JobSettings s) {
        int t = s.device.timeMode ? Math.max(2 * s.device.t, 64) : s.device.t;
        long perDevice = 400L + (long) t * (8 + 4L * s.device.s) + 48L * s.device.s;
        return (int) Math.min(Integer.MAX_VALUE, (s.deviceCacheMb << 20) / perDevice);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        layoutsState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("vigil-device-layouts", String.class));
        layouts = new HashMap<>();
        for (String l : layoutsState.get()) {
            byte[] b = DeviceStateCodec.layoutBytes(l);
            layouts.put(DeviceStateCodec.layoutHash(b), b);
        }
        layouts.put(DeviceStateCodec.layoutHash(settings.device.layout), settings.device.layout);
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<String> all = new ArrayList<>();
        for (byte[] l : layouts.values()) {
            all.add(DeviceStateCodec.layoutString(l));
        }
        layoutsState.update(all);
    }

    @Override
    public void open() throws Exception {
        super.open();
        logic = settings.deviceLogic();
        ValueStateDescriptor<byte[]> headDesc = new ValueStateDescriptor<>("vigil-device",
                PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        MapStateDescriptor<Integer, byte[]> rowsDesc = new MapStateDescriptor<>("vigil-device-rows",
                BasicTypeInfo.INT_TYPE_INFO, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        if (settings.stateTtlMs > 0) {
            // Rows live twice as long as headers and are all rewritten when the last full write
            // is half a TTL old (persist), so while a header is visible every row it names is.
            headDesc.enableTimeToLive(ttl(settings.stateTtlMs));
            rowsDesc.enableTimeToLive(ttl(settings.stateTtlMs > Long.MAX_VALUE / 2 ? Long.MAX_VALUE
                    : 2 * settings.stateTtlMs));
        }
        header = getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, headDesc);
        rows = getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, rowsDesc);
        timers = getInternalTimerService("vigil-silence", VoidNamespaceSerializer.INSTANCE, this);
        cache = new LinkedHashMap<>(1024, 0.75f, true);
        cacheCapacity = capacityOverride >= 0 ? capacityOverride : cacheCapacity(settings);
        group = getMetricGroup();
        late = group.counter(MetricNames.LATE);
        windows = group.counter(MetricNames.WINDOWS_READY);
        dlq = group.counter(MetricNames.DLQ);
        dlqLate = group.addGroup(MetricNames.REASON_GROUP, Reasons.LATE).counter(MetricNames.DLQ_BY_REASON);
        alertsBy = new HashMap<>();
        group.gauge(MetricNames.DEVICE_CACHE_SIZE, () -> cache.size());
    }

    private static StateTtlConfig ttl(long ms) {
        return StateTtlConfig.newBuilder(Duration.ofMillis(ms))
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .cleanupFullSnapshot()
                .build();
    }

    private long now() {
        return getProcessingTimeService().getCurrentProcessingTime();
    }

    /**
     * The current key's state: from the cache, else keyed state (remapped by sensor name when
     * written under another layout), else null. A device unchanged for longer than the TTL is
     * forgotten in the cache as in keyed state, and so is one whose keyed state lost a row.
     */
    private Cached load(String key) throws Exception {
        Cached c = cache.get(key);
        long now = now();
        if (c != null) {
            if (settings.stateTtlMs <= 0 || now - c.touched <= settings.stateTtlMs) {
                return c;
            }
            cache.remove(key);
            forget();
            return null;
        }
        byte[] h = header.value();
        if (h == null) {
            return null;
        }
        DeviceState d = DeviceStateCodec.decode(h, layouts::get, rows.entries());
        if (d == null) {
            forget();
            return null;
        }
        DeviceState a = logic.adapt(d);
        boolean remapped = a != d;
        return admit(key, new Cached(a, remapped, remapped, now));
    }

    /** Drop the current key's keyed state (expired). */
    private void forget() throws Exception {
        header.clear();
        rows.clear();
    }

    /**
     * The current key's changes to keyed state: the header and the rows written since last time
     * (every row after a re-layout, and when their last full write is half a TTL old).
     */
    private void persist(Cached c) throws Exception {
        DeviceState d = c.d;
        RingBuffer b = d.buffer();
        long now = now();
        boolean relaid = c.replace || b.relaid();
        boolean all = relaid || settings.stateTtlMs > 0 && now - d.rowsAt() >= settings.stateTtlMs / 2;
        if (all) {
            d.rowsAt(now);
        }
        header.update(DeviceStateCodec.header(d));
        if (relaid) {
            rows.clear();
        }
        DeviceStateCodec.changedRows(d, all, rows::put);
        c.dirty = false;
        c.replace = false;
    }

    /** Put an entry in the cache, writing back the least recently used one when over capacity. */
    private Cached admit(String key, Cached c) throws Exception {
        if (cacheCapacity <= 0) {
            return c;
        }
        cache.put(key, c);
        if (cache.size() > cacheCapacity) {
            Iterator<Map.Entry<String, Cached>> it = cache.entrySet().iterator();
            Map.Entry<String, Cached> eldest = it.next();
            it.remove();
            if (eldest.getValue().dirty) {
                setCurrentKey(eldest.getKey());
                persist(eldest.getValue());
                setCurrentKey(key);
            }
        }
        return c;
    }

    /** After a change: dirty in the cache, or straight to keyed state when there is no cache. */
    private void changed(Cached c) throws Exception {
        c.touched = now();
        if (cacheCapacity <= 0) {
            persist(c);
        } else {
            c.dirty = true;
        }
    }

    @Override
    public void processElement(StreamRecord<Reading> rec) throws Exception {
        Reading r = rec.getValue();
        String key = (String) getCurrentKey();
        Cached c = load(key);
        boolean first = c == null;
        DeviceState d = first ? logic.fresh() : c.d;
        DeviceLogic.Step step = logic.onReading(d, r.deviceId, r.ts, r.values, System.currentTimeMillis());
        if (step.late) {
            late.inc();
            dlq.inc();
            dlqLate.inc();
            byte[] body = DlqRecord.json(Reasons.LATE, step.lateDetail, r.raw, settings.topicReadings, r.partition,
                    r.offset, System.currentTimeMillis());
            output.collect(Records.DLQ, new StreamRecord<>(Records.keyed(r.deviceId, body), rec.getTimestamp()));
            return;
        }
        if (first) {
            c = admit(key, new Cached(d, true, false, now()));
        }
        changed(c);
        if (first || step.silenceClosed) {
            long nt = logic.nextTimer(d);
            if (nt != NO_TS) {
                timers.registerEventTimeTimer(VoidNamespace.INSTANCE, nt);
            }
        }
        emitAlerts(r.deviceId, step, rec.getTimestamp());
        for (DeviceLogic.WindowOut w : step.windows) {
            windows.inc();
            ByteBuffer b = ByteBuffer.allocate(4 * w.values.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(w.values);
            output.collect(new StreamRecord<>(Row.of(r.deviceId, w.start, w.end, w.nReadings, b.array()),
                    rec.getTimestamp()));
        }
    }

    @Override
    public void onEventTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
        String dev = timer.getKey();
        Cached c = load(dev);
        if (c == null) { // expired (TTL) or never written
            return;
        }
        long t = timer.getTimestamp();
        DeviceLogic.Step step = logic.onTimer(c.d, dev, t);
        if (!step.alerts.isEmpty()) {
            changed(c);
            emitAlerts(dev, step, t);
            return;
        }
        long nt = logic.nextTimer(c.d);
        if (nt != NO_TS && nt > t) { // readings moved the deadline: re-arm once
            timers.registerEventTimeTimer(VoidNamespace.INSTANCE, nt);
        }
    }

    @Override
    public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) {}

    private void emitAlerts(String dev, DeviceLogic.Step step, long timestamp) {
        for (DeviceLogic.AlertOut a : step.alerts) {
            alertsBy.computeIfAbsent(a.kind, k -> group.addGroup(MetricNames.KIND_GROUP, k)
                    .counter(MetricNames.ALERTS)).inc();
            output.collect(Records.STREAM_ALERTS, new StreamRecord<>(Records.keyed(dev, a.json), timestamp));
        }
    }

    /** Dirty cached states to keyed state before the barrier: the checkpoint holds all of them. */
    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        Object current = getCurrentKey();
        for (Map.Entry<String, Cached> e : cache.entrySet()) {
            Cached c = e.getValue();
            if (c.dirty) {
                setCurrentKey(e.getKey());
                persist(c);
            }
        }
        if (current != null) {
            setCurrentKey(current);
        }
    }
}
