package vigil.flink.job;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import vigil.flink.schema.DlqRecord;
import vigil.flink.schema.InvalidReading;
import vigil.flink.schema.ReadingParser;
import vigil.flink.schema.Reasons;

/**
 * Raw Kafka record {@code (raw, topic, partition, offset)} → validated {@link vigil.flink.schema.Reading};
 * an invalid one → DLQ side output with its reason, raw payload, topic, partition and offset.
 * Never throws on data: a parser bug becomes a {@code bad_json} DLQ record naming it.
 * Optionally copies validated readings to the archive side output.
 */
public final class ParseFunction extends ProcessFunction<Row, vigil.flink.schema.Reading> {

    private static final long serialVersionUID = 1L;

    private final JobSettings settings;
    private transient ReadingParser parser;
    private transient MetricGroup group;
    private transient Counter in;
    private transient Counter valid;
    private transient Counter dlq;
    private transient Map<String, Counter> dlqBy;

    public ParseFunction(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        parser = settings.parser();
        group = getRuntimeContext().getMetricGroup();
        in = group.counter(MetricNames.READINGS_IN);
        valid = group.counter(MetricNames.READINGS_VALID);
        dlq = group.counter(MetricNames.DLQ);
        dlqBy = new HashMap<>();
    }

    @Override
    public void processElement(Row value, Context ctx, Collector<vigil.flink.schema.Reading> out) {
        byte[] raw = (byte[]) value.getField(0);
        String topic = (String) value.getField(1);
        Integer partition = (Integer) value.getField(2);
        Long offset = (Long) value.getField(3);
        in.inc();
        ReadingParser.Parsed p;
        try {
            p = parser.parse(raw, partition == null ? -1 : partition, offset == null ? -1 : offset, settings.archive);
        } catch (InvalidReading e) {
            toDlq(ctx, e.reason, e.detail, raw, topic, partition, offset);
            return;
        } catch (RuntimeException e) {
            toDlq(ctx, Reasons.BAD_JSON, "parser error " + e, raw, topic, partition, offset);
            return;
        }
        valid.inc();
        out.collect(p.reading);
        if (settings.archive) {
            ctx.output(Records.ARCHIVE_TAG, Row.of(p.reading.deviceId, p.reading.ts, p.valuesJson));
        }
    }

    private void toDlq(Context ctx, String reason, String detail, byte[] raw, String topic, Integer partition,
                       Long offset) {
        dlq.inc();
        dlqBy.computeIfAbsent(reason, r -> group.addGroup(MetricNames.REASON_GROUP, r)
                .counter(MetricNames.DLQ_BY_REASON)).inc();
        byte[] rec = DlqRecord.json(reason, detail, raw, topic == null ? settings.topicReadings : topic, partition,
                offset, System.currentTimeMillis());
        ctx.output(Records.DLQ, Records.keyed(null, rec));
    }
}
