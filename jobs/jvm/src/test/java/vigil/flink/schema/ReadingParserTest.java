package vigil.flink.schema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One message per DLQ reason (the exhaustive check is tests/test_jvm_equals_udfs.py). */
class ReadingParserTest {

    private final ReadingParser p = new ReadingParser(Map.of("a", new double[] {-10, 10}), 200, 0,
            new String[] {"a", "b"});

    private String reason(String msg) {
        return reason(msg.getBytes(StandardCharsets.UTF_8));
    }

    private String reason(byte[] raw) {
        return assertThrows(InvalidReading.class, () -> p.parse(raw, 0, 0, false)).reason;
    }

    @Test
    void validReadingInSpecOrder() throws Exception {
        ReadingParser.Parsed r = p.parse(("{\"device_id\": \"pump-07\", \"ts\": \"2026-11-23T14:00:00.120Z\","
                + " \"values\": {\"b\": 2, \"x\": null, \"a\": -1.5}}").getBytes(StandardCharsets.UTF_8), 3, 42, true);
        assertEquals("pump-07", r.reading.deviceId);
        assertEquals(1795442400120L, r.reading.ts);
        assertArrayEquals(new double[] {-1.5, 2.0}, r.reading.values);
        assertEquals(42, r.reading.offset);
        assertEquals("{\"b\": 2.0, \"x\": null, \"a\": -1.5}", r.valuesJson);
    }

    @Test
    void everyReason() {
        assertEquals(Reasons.NOT_UTF8, reason(new byte[] {'{', (byte) 0xff, '}'}));
        assertEquals(Reasons.OVERSIZED, reason("{\"pad\": \"" + "x".repeat(300) + "\"}"));
        assertEquals(Reasons.BAD_JSON, reason("{\"device_id\": \"d\",}"));
        assertEquals(Reasons.BAD_JSON, reason("{} {}"));
        assertEquals(Reasons.BAD_JSON, reason("{\"a\": \"\\ud800\"}"));
        assertEquals(Reasons.BAD_JSON, reason("[1e400]"));
        assertEquals(Reasons.NON_FINITE, reason("{\"values\": {\"a\": NaN}, \"x\": [1,]}"));
        assertEquals(Reasons.BAD_JSON, reason("{\"x\": [1,], \"values\": {\"a\": NaN}}"));
        assertEquals(Reasons.NOT_OBJECT, reason("[1, 2]"));
        assertEquals(Reasons.MISSING_DEVICE, reason("{\"ts\": 1, \"values\": {}}"));
        assertEquals(Reasons.BAD_DEVICE, reason("{\"device_id\": 7, \"ts\": 1, \"values\": {}}"));
        assertEquals(Reasons.BAD_DEVICE, reason("{\"device_id\": \"a\\u200bb\", \"ts\": 1, \"values\": {}}"));
        assertEquals(Reasons.MISSING_TS, reason("{\"device_id\": \"d\", \"values\": {}}"));
        assertEquals(Reasons.BAD_TS, reason("{\"device_id\": \"d\", \"ts\": \"yesterday\", \"values\": {}}"));
        assertEquals(Reasons.BAD_TS, reason("{\"device_id\": \"d\", \"ts\": true, \"values\": {}}"));
        assertEquals(Reasons.BAD_VALUES, reason("{\"device_id\": \"d\", \"ts\": 1, \"values\": [1]}"));
        assertEquals(Reasons.BAD_VALUES, reason("{\"device_id\": \"d\", \"ts\": 1, \"values\": {\"\": 1}}"));
        assertEquals(Reasons.NON_NUMERIC, reason("{\"device_id\": \"d\", \"ts\": 1, \"values\": {\"a\": \"hot\"}}"));
        assertEquals(Reasons.OUT_OF_RANGE, reason("{\"device_id\": \"d\", \"ts\": 1, \"values\": {\"a\": 11}}"));
    }

    @Test
    void repeatedKeysKeepTheLastValue() throws Exception {
        ReadingParser.Parsed r = p.parse(("{\"device_id\": 5, \"ts\": 1, \"values\": {\"a\": \"x\", \"a\": 3},"
                + " \"device_id\": \"d\"}").getBytes(StandardCharsets.UTF_8), 0, 0, false);
        assertEquals("d", r.reading.deviceId);
        assertEquals(3.0, r.reading.values[0]);
    }

    @Test
    void timeGrammar() {
        assertEquals(1795442400120L, IsoTime.parse("2026-11-23 15:00:00,1205+01:00"));
        assertEquals(1795442400000L, IsoTime.parse("2026-11-23T14:00Z"));
        assertEquals(Long.MIN_VALUE, IsoTime.parse("2026-11-23T14"));
        assertEquals(Long.MIN_VALUE, IsoTime.parse("2026-02-29"));
    }
}
