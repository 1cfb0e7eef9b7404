package vigil.flink.job;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.api.java.typeutils.TypeExtractor;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;
import vigil.flink.schema.Reading;

/**
 * The JVM half of the anomaly job, built from Python ({@code jobs/jvm_ops.py}) around the one
 * Python stage (the pandas scoring UDF):
 *
 * <pre>
 *   source rows → parse-validate [vigil-parse] → event time [vigil-watermarks]
 *     → keyBy(device) → device windows [vigil-device-state]      (→ Python: batch scoring)
 *   scored rows → keyBy(device) → alert policy [vigil-alert-policy]
 * </pre>
 *
 * <p>Operator uids are stable: savepoints map state by them.
 */
public final class Topology {

    private final JobSettings settings;
    private final SingleOutputStreamOperator<Reading> parsed;
    private final SingleOutputStreamOperator<Row> windows;
    private SingleOutputStreamOperator<Row> alerts;

    private Topology(JobSettings settings, SingleOutputStreamOperator<Reading> parsed,
                     SingleOutputStreamOperator<Row> windows) {
        this.settings = settings;
        this.parsed = parsed;
        this.windows = windows;
    }

    /** Key of readings and scored rows: the device id. */
    public static final class ReadingKey implements KeySelector<Reading, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(Reading r) {
            return r.deviceId;
        }
    }

    /** Key of rows whose field 0 is the device id. */
    public static final class RowKey implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(Row r) {
            return (String) r.getField(0);
        }
    }

    /** Parse, event time and per-device windows on {@code source} (rows {@code (raw, topic, partition, offset)}). */
    public static Topology readings(DataStream<Row> source, String settingsJson) {
        JobSettings s = new JobSettings(settingsJson);
        PojoTypeInfo<Reading> readingType = (PojoTypeInfo<Reading>) TypeExtractor.createTypeInfo(Reading.class);
        SingleOutputStreamOperator<Reading> parsed = source
                .process(new ParseFunction(s), readingType).uid("vigil-parse").name("parse-validate");
        WatermarkStrategy<Reading> wm = WatermarkStrategy
                .<Reading>forBoundedOutOfOrderness(Duration.ofMillis(s.outOfOrdernessMs))
                .withTimestampAssigner((r, prev) -> r.ts);
        if (s.idleTimeoutMs > 0) {
            wm = wm.withIdleness(Duration.ofMillis(s.idleTimeoutMs));
        }
        SingleOutputStreamOperator<Reading> timed = parsed.assignTimestampsAndWatermarks(wm)
                .uid("vigil-watermarks").name("event-time");
        // not chained to the scoring UDF behind it: the operator's thread would otherwise wait
        // for every Python bundle to finish (measured: 50k → 73k readings/s, docs/job.md)
        SingleOutputStreamOperator<Row> windows = timed.keyBy(new ReadingKey())
                .transform("device-windows", Records.WINDOW, new DeviceWindowsOperator(s))
                .uid("vigil-device-state").disableChaining();
        return new Topology(s, parsed, windows);
    }

    /** Windows for the scoring UDF: {@link Records#WINDOW} rows. */
    public DataStream<Row> windows() {
        return windows;
    }

    /** The windows as {@code (device, JSON)} records (a tap for tests and debugging). */
    public DataStream<Row> windowRecords() {
        return windows.map(new WindowRecords(), Records.KEYED_OUT).name("window-records");
    }

    /** The alert policy on the scoring UDF's output (rows: window fields, then the score row). */
    public Topology alerts(DataStream<Row> scored) {
        alerts = scored.keyBy(new RowKey())
                .process(new AlertFunction(settings), Records.KEYED_OUT)
                .uid("vigil-alert-policy").name("alert-policy");
        return this;
    }

    /** Anomaly open/close events and stream-level alerts, as {@code (k, payload)} rows. */
    public DataStream<Row> anomalies() {
        return alerts.union(windows.getSideOutput(Records.STREAM_ALERTS));
    }

    /** Invalid and late readings, as {@code (k, payload)} DLQ records. */
    public DataStream<Row> dlq() {
        return parsed.getSideOutput(Records.DLQ).union(windows.getSideOutput(Records.DLQ));
    }

    public DataStream<Row> drift() {
        return alerts.getSideOutput(Records.DRIFT);
    }

    /** Per-window scores (only when the settings ask for them; else an empty stream). */
    public DataStream<Row> scores() {
        return alerts.getSideOutput(Records.SCORES);
    }

    /** Validated readings for the Parquet archive (only when the settings ask for it). */
    public DataStream<Row> archive() {
        return parsed.getSideOutput(Records.ARCHIVE_TAG);
    }
}
