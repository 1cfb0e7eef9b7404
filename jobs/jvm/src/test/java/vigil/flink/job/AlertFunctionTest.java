package vigil.flink.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/** The alert-policy operator on Flink's keyed operator test harness. */
class AlertFunctionTest {

    private static KeyedOneInputStreamOperatorTestHarness<String, Row, Row> harness() throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new AlertFunction(TestSettings.of(true, false))),
                new Topology.RowKey(), Types.STRING);
    }

    private static Row scored(String dev, long end, Double score, boolean ok, String drift) {
        return Row.of(dev, end - 3000, end, 4, Row.of(score, ok, 0.25,
                "[{\"feature\": \"a.mean\", \"contribution\": 1.0}]", drift));
    }

    private static String text(Row r) {
        return new String((byte[]) r.getField(1), StandardCharsets.UTF_8);
    }

    @Test
    void opensAfterMinDurationClosesBelowHysteresisAcrossASnapshot() throws Exception {
        OperatorSubtaskState snap;
        try (KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness()) {
            h.open();
            h.processElement(scored("d1", 1000, 2.0, true, null), 1000);
            assertEquals(0, h.extractOutputValues().size()); // min_duration 2
            h.processElement(scored("d1", 2000, 2.0, true, null), 2000);
            List<Row> out = h.extractOutputValues();
            assertEquals(1, out.size());
            String open = text(out.get(0));
            assertTrue(open.contains("\"status\": \"open\"") && open.contains("\"severity\": \"critical\"")
                    && open.contains("a.mean") && open.contains("\"imputed_fraction\": 0.25"), open);
            snap = h.snapshot(1L, 1L);
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness()) {
            h.initializeState(snap);
            h.open();
            h.processElement(scored("d1", 3000, 0.95, true, null), 3000); // above 1 - 0.1·1: stays open
            assertEquals(0, h.extractOutputValues().size());
            h.processElement(scored("d1", 4000, 0.5, true, null), 4000);
            List<Row> out = h.extractOutputValues();
            assertEquals(1, out.size());
            assertTrue(text(out.get(0)).contains("\"status\": \"closed\""));
            assertEquals(2, h.getSideOutput(Records.SCORES).size());
        }
    }

    @Test
    void skippedWindowsNeitherOpenNorScoreAndDriftRides() throws Exception {
        try (KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness()) {
            h.open();
            h.processElement(scored("d1", 1000, null, false, "[{\"feature\": \"a.mean\", \"psi\": 0.3}]"), 1000);
            h.processElement(scored("d1", 2000, Double.NaN, false, null), 2000);
            assertEquals(0, h.extractOutputValues().size());
            assertEquals(0, h.getSideOutput(Records.SCORES) == null ? 0 : h.getSideOutput(Records.SCORES).size());
            Row drift = h.getSideOutput(Records.DRIFT).peek().getValue();
            assertEquals("a.mean", drift.getField(0));
            assertTrue(text(drift).contains("\"at_ms\""));
        }
    }
}
