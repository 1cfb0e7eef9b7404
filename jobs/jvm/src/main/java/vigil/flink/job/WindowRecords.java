package vigil.flink.job;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.types.Row;
import vigil.flink.schema.JsonText;

/**
 * A window row as a {@code (device, JSON)} record ({@code window_start_ms}, {@code window_end_ms},
 * {@code n_readings}, the float32 values base64): a tap on {@link Topology#windows()} that tests
 * and debugging can collect beside the job's other outputs.
 */
public final class WindowRecords implements MapFunction<Row, Row> {

    private static final long serialVersionUID = 1L;

    @Override
    public Row map(Row w) {
        StringBuilder sb = new StringBuilder(256).append("{\"device_id\": ");
        JsonText.quote(sb, (String) w.getField(0)).append(", \"window_start_ms\": ").append(w.getField(1))
                .append(", \"window_end_ms\": ").append(w.getField(2)).append(", \"n_readings\": ").append(w.getField(3))
                .append(", \"values_b64\": \"").append(Base64.getEncoder().encodeToString((byte[]) w.getField(4)))
                .append("\"}");
        return Records.keyed((String) w.getField(0), sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
