package vigil.flink.job;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.types.Row;
import org.apache.flink.util.OutputTag;

/**
 * Record shapes between the job's operators (named rows, so the Table API sees columns):
 *
 * <ul>
 *   <li>source {@code (raw BYTES, topic, partition, offset)} from the SQL Kafka table;
 *   <li>window {@code (device_id, start_ms, end_ms, n_readings, win BYTES)}: float32 {@code [T, S]}
 *       little-endian, NaN = missing, for the pandas scoring UDF;
 *   <li>scored: the window's first four fields, then the UDF's
 *       {@code ROW(score, ok, imputed, top, drift)};
 *   <li>keyed out {@code (k, payload BYTES)}: one Kafka record (key = device id or null);
 *   <li>archive {@code (device_id, ts_ms, vals_json)}.
 * </ul>
 */
public final class Records {

    public static final RowTypeInfo KEYED_OUT = new RowTypeInfo(
            new TypeInformation<?>[] {Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE)},
            new String[] {"k", "payload"});
    public static final RowTypeInfo WINDOW = new RowTypeInfo(
            new TypeInformation<?>[] {Types.STRING, Types.LONG, Types.LONG, Types.INT, Types.PRIMITIVE_ARRAY(Types.BYTE)},
            new String[] {"device_id", "start_ms", "end_ms", "n_readings", "win"});
    public static final RowTypeInfo ARCHIVE = new RowTypeInfo(
            new TypeInformation<?>[] {Types.STRING, Types.LONG, Types.STRING},
            new String[] {"device_id", "ts_ms", "vals_json"});

    public static final OutputTag<Row> DLQ = new OutputTag<>("dlq", KEYED_OUT);
    public static final OutputTag<Row> STREAM_ALERTS = new OutputTag<>("stream-alerts", KEYED_OUT);
    public static final OutputTag<Row> ARCHIVE_TAG = new OutputTag<>("archive", ARCHIVE);
    public static final OutputTag<Row> SCORES = new OutputTag<>("window-scores", KEYED_OUT);
    public static final OutputTag<Row> DRIFT = new OutputTag<>("model-drift", KEYED_OUT);

    private Records() {}

    public static Row keyed(String k, byte[] payload) {
        return Row.of(k, payload);
    }
}
