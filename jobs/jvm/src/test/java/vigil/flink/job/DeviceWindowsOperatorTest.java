package vigil.flink.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import vigil.flink.schema.Reading;

/** The device operator on Flink's keyed operator test harness (heap and RocksDB state). */
class DeviceWindowsOperatorTest {

    private static final long T0 = 1_795_442_400_000L;

    private static KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> harness(boolean rocksdb)
            throws Exception {
        return harness(rocksdb, -1);
    }

    /** {@code cacheDevices}: the write-back cache's capacity (-1: from the settings' megabytes). */
    private static KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> harness(boolean rocksdb,
            int cacheDevices) throws Exception {
        return harness(rocksdb, cacheDevices, TestSettings.of(false, false));
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> harness(boolean rocksdb,
            int cacheDevices, JobSettings settings) throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = new KeyedOneInputStreamOperatorTestHarness<>(
                new DeviceWindowsOperator(settings, cacheDevices),
                new Topology.ReadingKey(), Types.STRING);
        if (rocksdb) {
            h.setStateBackend(new EmbeddedRocksDBStateBackend());
        }
        return h;
    }

    private static Reading reading(String dev, long ts, double a, double b) {
        return new Reading(dev, ts, new double[] {a, b}, ("{\"ts\": " + ts + "}").getBytes(StandardCharsets.UTF_8),
                0, ts - T0);
    }

    private static float[] floats(byte[] win) {
        float[] f = new float[win.length / 4];
        ByteBuffer.wrap(win).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void windowsEverySlideLateToDlqSilenceOnTimer(boolean rocksdb) throws Exception {
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(rocksdb)) {
            h.open();
            for (int i = 0; i < 6; i++) {
                h.processElement(reading("d1", T0 + i * 1000L, i, i == 5 ? Double.NaN : i), T0 + i * 1000L);
            }
            List<Row> out = h.extractOutputValues();
            assertEquals(2, out.size()); // windows after readings 4 and 6 (window 4, slide 2)
            Row w = out.get(1);
            assertEquals(T0 + 2000, w.getField(1));
            assertEquals(T0 + 5000, w.getField(2));
            float[] v = floats((byte[]) w.getField(4));
            assertEquals(2.0f, v[0]);
            assertTrue(Float.isNaN(v[7])); // sensor b of the window's last reading was missing
            // 2.5 s behind the newest reading with 1 s + 1 s allowed: late, to the DLQ with its payload
            h.processElement(reading("d1", T0 + 2500, 9, 9), T0 + 2500);
            List<StreamRecord<Row>> dlq = new ArrayList<>(h.getSideOutput(Records.DLQ));
            assertEquals(1, dlq.size());
            String rec = new String((byte[]) dlq.get(0).getValue().getField(1), StandardCharsets.UTF_8);
            assertTrue(rec.contains("\"reason\": \"late\"") && rec.contains("{\\\"ts\\\": " + (T0 + 2500)), rec);
            // the event-time clock passes the device's deadline (last reading + 10 s): stream_silent
            h.processWatermark(T0 + 5000 + 10_000);
            List<StreamRecord<Row>> alerts = new ArrayList<>(h.getSideOutput(Records.STREAM_ALERTS));
            assertEquals(1, alerts.size());
            String a = new String((byte[]) alerts.get(0).getValue().getField(1), StandardCharsets.UTF_8);
            assertTrue(a.contains("\"kind\": \"stream_silent\"") && a.contains("\"status\": \"open\""), a);
        }
    }

    /** Cache on (all devices fit), tiny (every other reading evicts), off; heap and RocksDB. */
    @ParameterizedTest
    @CsvSource({"false,-1", "true,-1", "false,1", "true,1", "false,0", "true,0"})
    void stateAndTimersSurviveASnapshot(boolean rocksdb, int cacheDevices) throws Exception {
        OperatorSubtaskState snap;
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(rocksdb, cacheDevices)) {
            h.open();
            for (int i = 0; i < 3; i++) {
                h.processElement(reading("d1", T0 + i * 1000L, i, i), T0 + i * 1000L);
                h.processElement(reading("d2", T0 + i * 1000L, i, i), T0 + i * 1000L);
            }
            assertEquals(0, h.extractOutputValues().size());
            h.prepareSnapshotPreBarrier(1L); // as the task does before it takes the snapshot
            snap = h.snapshot(1L, 1L);
            h.processElement(reading("d1", T0 + 3000, 9, 9), T0 + 3000); // after the checkpoint: lost
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(rocksdb, cacheDevices)) {
            h.initializeState(snap);
            h.open();
            h.processElement(reading("d1", T0 + 3000, 3, 3), T0 + 3000);
            h.processElement(reading("d2", T0 + 3000, 3, 3), T0 + 3000);
            List<Row> out = h.extractOutputValues();
            assertEquals(2, out.size()); // the fourth reading completes each restored device's window
            assertEquals(T0, out.get(0).getField(1));
            assertEquals(3.0f, floats((byte[]) out.get(0).getField(4))[6]); // the restored d1 saw 3, not 9
            h.processWatermark(Long.MAX_VALUE); // the restored timers still fire
            assertEquals(2, h.getSideOutput(Records.STREAM_ALERTS).size());
        }
    }

    @Test
    void outOfRangeOpensAndClosesWithOneId() throws Exception {
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(false)) {
            h.open();
            h.processElement(reading("d1", T0, 1, 5), T0);
            h.processElement(reading("d1", T0 + 1000, 1, 12), T0 + 1000);
            h.processElement(reading("d1", T0 + 2000, 1, 5), T0 + 2000);
            List<String> events = new ArrayList<>();
            for (StreamRecord<Row> r : h.getSideOutput(Records.STREAM_ALERTS)) {
                events.add(new String((byte[]) r.getValue().getField(1), StandardCharsets.UTF_8));
            }
            assertEquals(2, events.size());
            String id = events.get(0).substring(14, 46);
            assertTrue(events.get(0).contains("\"status\": \"open\"") && events.get(1).contains("\"status\": \"closed\""));
            assertTrue(events.get(1).contains(id));
        }
    }

    /** Processing time for the operator's cache and for the state backend's TTL. */
    private static void clock(KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h, long t) throws Exception {
        h.setProcessingTime(t);
        h.setStateTtlProcessingTime(t);
    }

    /** A device silent longer than the TTL starts afresh, cached or not: 3 readings + 1 make no window. */
    @ParameterizedTest
    @CsvSource({"false,-1", "true,-1", "false,0", "true,0"})
    void aDeviceSilentLongerThanTheTtlIsForgotten(boolean rocksdb, int cacheDevices) throws Exception {
        for (long silence : new long[] {5_000L, 20_000L}) {
            try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h =
                         harness(rocksdb, cacheDevices, TestSettings.of(false, false, 10_000L))) {
                h.open();
                clock(h, 0);
                for (int i = 0; i < 3; i++) {
                    h.processElement(reading("d1", T0 + i * 1000L, i, i), T0 + i * 1000L);
                }
                h.prepareSnapshotPreBarrier(1L); // the cache writes back, as before a checkpoint
                clock(h, silence);
                h.processElement(reading("d1", T0 + 3000, 3, 3), T0 + 3000);
                assertEquals(silence < 10_000L ? 1 : 0, h.extractOutputValues().size(), "silence " + silence);
            }
        }
    }

    /**
     * A slow device keeps its header alive while its oldest rows are older than the TTL: every
     * row is still there after a restore (rows are refreshed), so the window continues intact.
     */
    @ParameterizedTest
    @CsvSource({"false,-1", "true,-1", "false,0", "true,0"})
    void aSlowDeviceKeepsEveryRowAcrossARestore(boolean rocksdb, int cacheDevices) throws Exception {
        JobSettings s = TestSettings.of(false, false, 10_000L);
        OperatorSubtaskState snap;
        long t = 0;
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(rocksdb, cacheDevices, s)) {
            h.open();
            for (int i = 0; i < 11; i++, t += 6_000L) { // a reading every 6 s; a row slot is reused every 24 s
                clock(h, t);
                h.processElement(reading("d1", T0 + i * 1000L, i, i), T0 + i * 1000L);
                h.prepareSnapshotPreBarrier(i); // a checkpoint after every reading
            }
            assertEquals(4, h.extractOutputValues().size()); // after readings 4, 6, 8, 10: never forgotten
            snap = h.snapshot(11L, t);
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, Reading, Row> h = harness(rocksdb, cacheDevices, s)) {
            h.setup();
            clock(h, t);
            h.initializeState(snap);
            h.open();
            h.processElement(reading("d1", T0 + 11_000L, 11, 11), T0 + 11_000L);
            List<Row> out = h.extractOutputValues();
            assertEquals(1, out.size()); // readings 8..11: the restored rows are all there
            float[] v = floats((byte[]) out.get(0).getField(4));
            assertEquals(8.0f, v[0]);
            assertEquals(10.0f, v[4]);
        }
    }
}
