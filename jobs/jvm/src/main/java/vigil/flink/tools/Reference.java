package vigil.flink.tools;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import vigil.flink.alerts.AlertLogic;
import vigil.flink.alerts.AlertState;
import vigil.flink.alerts.AlertStateSerializer;
import vigil.flink.device.DeviceLogic;
import vigil.flink.device.DeviceSettings;
import vigil.flink.device.DeviceState;
import vigil.flink.device.DeviceStateCodec;
import vigil.flink.schema.DeviceIds;
import vigil.flink.schema.InvalidReading;
import vigil.flink.schema.IsoTime;
import vigil.flink.schema.ReadingParser;

/**
 * The JVM operators' logic without Flink around it, driven over stdin/stdout (one JSON command
 * per line, one JSON answer per line), so tests/test_jvm_equals_udfs.py can feed thousands of
 * generated streams through it and through the Python reference and compare every output.
 *
 * <p>Commands ({@code op}): {@code parse} (raw messages, base64), {@code device} (a sequence of
 * readings and timer firings per device, states serialised and restored between operations as
 * Flink does), {@code alerts} (score sequences), {@code iso} (time strings), {@code device_ids}
 * (which single code points are valid device ids), {@code quit}.
 */
public final class Reference {

    private static final ObjectMapper M = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build(); // Python's json writes Infinity

    private Reference() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode cmd = M.readTree(line);
            String op = cmd.get("op").asText();
            JsonNode res;
            try {
                switch (op) {
                    case "parse": res = parse(cmd); break;
                    case "device": res = device(cmd); break;
                    case "alerts": res = alerts(cmd); break;
                    case "iso": res = iso(cmd); break;
                    case "device_ids": res = deviceIds(cmd); break;
                    case "quit": return;
                    default: throw new IllegalArgumentException("unknown op " + op);
                }
            } catch (Exception e) {
                ObjectNode err = M.createObjectNode();
                err.put("error", e.toString());
                res = err;
            }
            out.println(M.writeValueAsString(res));
            out.flush();
        }
    }

    private static JsonNode parse(JsonNode cmd) {
        Map<String, double[]> limits = new LinkedHashMap<>();
        cmd.get("limits").fields().forEachRemaining(e ->
                limits.put(e.getKey(), new double[] {e.getValue().get(0).asDouble(), e.getValue().get(1).asDouble()}));
        JsonNode ss = cmd.get("sensors");
        String[] sensors = new String[ss.size()];
        for (int i = 0; i < sensors.length; i++) {
            sensors[i] = ss.get(i).asText();
        }
        ReadingParser p = new ReadingParser(limits, cmd.get("max_bytes").asInt(), cmd.get("min_ts_ms").asLong(), sensors);
        ArrayNode res = M.createArrayNode();
        for (JsonNode r : cmd.get("raw")) {
            byte[] raw = Base64.getDecoder().decode(r.asText());
            ObjectNode o = res.addObject();
            try {
                ReadingParser.Parsed parsed = p.parse(raw, 0, 0, true);
                o.put("device_id", parsed.reading.deviceId);
                o.put("ts", parsed.reading.ts);
                ArrayNode v = o.putArray("values");
                for (double d : parsed.reading.values) {
                    if (Double.isNaN(d)) {
                        v.addNull();
                    } else {
                        v.add(d);
                    }
                }
                o.put("values_json", parsed.valuesJson);
            } catch (InvalidReading e) {
                o.put("reason", e.reason);
                o.put("detail", e.detail);
            }
        }
        return res;
    }

    /**
     * {@code ops}: {@code ["r", device, ts, [values|null...]]} or {@code ["t", device, time]}. Each
     * device's state is written after every operation the way the operator writes it (the header
     * and the buffer rows marked dirty, every row after a re-layout) and decoded from what was
     * written before the next one, so a row the logic changed without marking it would show.
     */
    private static JsonNode device(JsonNode cmd) throws Exception {
        DeviceSettings settings = new DeviceSettings(cmd.get("settings"));
        DeviceLogic logic = new DeviceLogic(settings);
        int s = settings.s;
        Map<String, byte[]> headers = new HashMap<>();
        Map<String, Map<Integer, byte[]>> rows = new HashMap<>();
        ArrayNode res = M.createArrayNode();
        for (JsonNode op : cmd.get("ops")) {
            String kind = op.get(0).asText();
            String dev = op.get(1).asText();
            byte[] head = headers.get(dev);
            if (head == null && !kind.equals("r")) {
                continue; // a timer of a device without state: nothing happens
            }
            DeviceState d = head == null ? logic.fresh()
                    : logic.adapt(DeviceStateCodec.decode(head, h -> settings.layout, rows.get(dev).entrySet()));
            ObjectNode o = res.addObject();
            DeviceLogic.Step step;
            if (kind.equals("r")) {
                double[] vals = new double[s];
                JsonNode v = op.get(3);
                for (int j = 0; j < s; j++) {
                    vals[j] = v.get(j).isNull() ? Double.NaN : v.get(j).asDouble();
                }
                step = logic.onReading(d, dev, op.get(2).asLong(), vals, DeviceState.NO_TS);
            } else {
                step = logic.onTimer(d, dev, op.get(2).asLong());
            }
            o.put("late", step.late);
            ArrayNode ws = o.putArray("windows");
            for (DeviceLogic.WindowOut w : step.windows) {
                ObjectNode wo = ws.addObject();
                wo.put("start", w.start);
                wo.put("end", w.end);
                wo.put("n", w.nReadings);
                ArrayNode vals = wo.putArray("values");
                for (float f : w.values) {
                    if (Float.isNaN(f)) {
                        vals.addNull();
                    } else {
                        vals.add(f);
                    }
                }
            }
            ArrayNode as = o.putArray("alerts");
            for (DeviceLogic.AlertOut a : step.alerts) {
                as.add(M.readTree(a.json));
            }
            long nt = logic.nextTimer(d);
            if (nt == DeviceState.NO_TS) {
                o.putNull("next_timer");
            } else {
                o.put("next_timer", nt);
            }
            if (!step.late) {
                boolean relaid = d.buffer().relaid();
                Map<Integer, byte[]> r = rows.computeIfAbsent(dev, k -> new HashMap<>());
                headers.put(dev, DeviceStateCodec.header(d));
                if (relaid) {
                    r.clear();
                }
                DeviceStateCodec.changedRows(d, relaid, r::put);
            }
        }
        return res;
    }

    /** {@code scores}: {@code [device, start, end, score, top_json|null, imputed]}. */
    private static JsonNode alerts(JsonNode cmd) throws IOException {
        AlertLogic logic = new AlertLogic(cmd.get("settings"));
        String name = cmd.get("model").get("name").asText();
        String version = cmd.get("model").get("version").asText();
        Map<String, byte[]> states = new HashMap<>();
        DataOutputSerializer buf = new DataOutputSerializer(4096);
        AlertLogic.Decision d = new AlertLogic.Decision();
        ArrayNode res = M.createArrayNode();
        for (JsonNode sc : cmd.get("scores")) {
            String dev = sc.get(0).asText();
            byte[] blob = states.get(dev);
            AlertState st = blob == null ? logic.newState()
                    : AlertStateSerializer.INSTANCE.deserialize(new DataInputDeserializer(blob));
            JsonNode score = sc.get(3);
            double s = score.isNull() ? Double.NaN : score.asDouble();
            logic.onScore(st, dev, sc.get(1).asLong(), sc.get(2).asLong(), s, name, version,
                    sc.get(4).isNull() ? null : sc.get(4).asText(), sc.get(5).asDouble(), AlertState.NO_TS, d);
            ObjectNode o = res.addObject();
            o.put("score", d.score);
            o.put("threshold", d.threshold);
            o.put("open", d.open);
            if (d.alert == null) {
                o.putNull("alert");
            } else {
                o.set("alert", M.readTree(d.alert));
            }
            buf.clear();
            AlertStateSerializer.INSTANCE.serialize(st, buf);
            states.put(dev, buf.getCopyOfBuffer());
        }
        return res;
    }

    private static JsonNode iso(JsonNode cmd) {
        ArrayNode res = M.createArrayNode();
        for (JsonNode v : cmd.get("values")) {
            long ms = IsoTime.parse(v.asText());
            if (ms == Long.MIN_VALUE) {
                res.addNull();
            } else {
                res.add(ms);
            }
        }
        return res;
    }

    /** A string with one char per code point in [from, to): '1' when that code point alone is a valid id. */
    private static JsonNode deviceIds(JsonNode cmd) {
        int from = cmd.get("from").asInt();
        int to = cmd.get("to").asInt();
        StringBuilder sb = new StringBuilder(to - from);
        for (int cp = from; cp < to; cp++) {
            sb.append(DeviceIds.valid(new String(Character.toChars(cp))) ? '1' : '0');
        }
        return M.getNodeFactory().textNode(sb.toString());
    }
}
