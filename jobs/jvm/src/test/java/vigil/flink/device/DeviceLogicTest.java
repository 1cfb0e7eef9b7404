package vigil.flink.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A state restored under another model's sensor layout, and the codec round trip. */
class DeviceLogicTest {

    private static DeviceLogic logic(String sensors, int t) throws Exception {
        return new DeviceLogic(new DeviceSettings(new ObjectMapper().readTree("{\"sensors\": " + sensors
                + ", \"T\": " + t + ", \"slide\": 1, \"time_mode\": false, \"window_ms\": 0, \"slide_ms\": 0,"
                + " \"max_gap\": 5, \"op_lo\": [null, null], \"op_hi\": [null, null], \"stuck_after\": 100,"
                + " \"stuck_tolerance\": 0.0, \"silent_after_ms\": 30000, \"out_of_orderness_ms\": 0,"
                + " \"allowed_lateness_ms\": 0}")));
    }

    @Test
    void aNewSensorLayoutRemapsByName() throws Exception {
        DeviceLogic old = logic("[\"a\", \"b\"]", 4);
        DeviceState d = old.fresh();
        for (int i = 0; i < 5; i++) {
            old.onReading(d, "dev", 1000L * i, new double[] {i, 10 + i}, DeviceState.NO_TS);
        }
        Map<Integer, byte[]> rows = new HashMap<>();
        for (int i = 0; i < d.buffer().size(); i++) {
            rows.put(d.buffer().slot(i), DeviceStateCodec.row(d, d.buffer().slot(i)));
        }
        byte[] head = DeviceStateCodec.header(d);
        assertTrue(head.length < 120, "header of " + head.length + " bytes"); // the rows carry the buffer
        DeviceState back = DeviceStateCodec.decode(head, h -> old.settings().layout, rows.entrySet());
        assertSame(back, old.adapt(back)); // same layout: nothing to do
        assertEquals(4.0f, back.buffer().value(3, 0));
        DeviceState q = logic("[\"b\", \"c\"]", 3).adapt(back);
        assertEquals(3, q.buf.size());
        assertEquals(12.0f, q.buf.value(0, 0));
        assertEquals(14.0f, q.buf.value(2, 0));
        assertTrue(Float.isNaN(q.buf.value(2, 1)));
        assertEquals(4000L, q.maxTs());
        assertTrue(q.buffer().relaid()); // the operator rewrites every row of a remapped state
    }
}
