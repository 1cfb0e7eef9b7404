package vigil.flink.schema;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.IOException;
import java.io.Serializable;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code udfs.schema.parse_reading} in the JVM: the same reasons for every message.
 *
 * <p>The Python reference parses with orjson and, when orjson refuses a message, names the
 * reason: {@code not_utf8} if the bytes are not UTF-8, {@code non_finite} if Python's own
 * {@code json} module meets a {@code NaN}, {@code Infinity} or {@code -Infinity} token before
 * any syntax error, else {@code bad_json}. orjson refuses more than the JSON grammar does: a
 * number too large for a double, an unpaired surrogate escape, nesting deeper than 1024, a
 * byte-order mark. This parser walks the message once with Jackson's streaming parser in the
 * same order: the first of (syntax error, NaN-like token) decides, and the orjson-only refusals
 * make it {@code bad_json} at the end. Then the semantic checks run in the reference's order:
 * object, device id, time, values (first bad sensor in message order; a repeated key keeps its
 * first position and its last value, as a Python dict does).
 *
 * <p>Not thread-safe (reuses a decoder); one instance per operator instance.
 */
public final class ReadingParser implements Serializable {

    private static final long serialVersionUID = 1L;

    public static final long MAX_TS_MS = 4_102_444_800_000L;
    public static final int MAX_SENSORS = 1024;
    private static final int MAX_DEPTH = 1024;

    private final Map<String, double[]> limits;
    private final int maxBytes;
    private final long minTsMs;
    private final Map<String, Integer> specIndex;
    private final int nSpec;

    private transient JsonFactory factory;
    private transient CharsetDecoder utf8;

    /**
     * @param limits physical range per sensor ({@code [lo, hi]}); others unchecked
     * @param specSensors the feature spec's sensors: {@link Reading#values} follows this order
     */
    public ReadingParser(Map<String, double[]> limits, int maxBytes, long minTsMs, String[] specSensors) {
        this.limits = new LinkedHashMap<>(limits);
        this.maxBytes = maxBytes;
        this.minTsMs = minTsMs;
        this.specIndex = new LinkedHashMap<>();
        for (int i = 0; i < specSensors.length; i++) {
            specIndex.put(specSensors[i], i);
        }
        this.nSpec = specSensors.length;
    }

    /** The result of one parse: the reading, and its values as JSON when asked (archive). */
    public static final class Parsed {
        public final Reading reading;
        public final String valuesJson;

        Parsed(Reading reading, String valuesJson) {
            this.reading = reading;
            this.valuesJson = valuesJson;
        }
    }

    /** Validate one message; throws {@link InvalidReading} with exactly one reason. */
    public Parsed parse(byte[] raw, int partition, long offset, boolean wantValuesJson) throws InvalidReading {
        if (raw == null) {
            raw = new byte[0];
        }
        if (raw.length > maxBytes) {
            throw new InvalidReading(Reasons.OVERSIZED, raw.length + " bytes > limit " + maxBytes);
        }
        checkUtf8(raw);
        SmallMap msg = document(raw);
        if (msg == null) {
            throw new InvalidReading(Reasons.NOT_OBJECT, "top level is not an object");
        }
        Val dev = msg.get("device_id");
        if (dev == null || dev.kind == Val.NULL) {
            throw new InvalidReading(Reasons.MISSING_DEVICE, "field 'device_id' is missing or null");
        }
        if (dev.kind != Val.STR) {
            throw new InvalidReading(Reasons.BAD_DEVICE, "device_id must be a string, got " + dev.typeName());
        }
        if (!DeviceIds.valid(dev.s)) {
            throw new InvalidReading(Reasons.BAD_DEVICE,
                    "device_id must be 1.." + DeviceIds.MAX_LEN + " printable characters");
        }
        long ts = timestamp(msg.get("ts"));
        Val vals = msg.get("values");
        if (vals == null || vals.kind != Val.OBJ) {
            String got = vals == null || vals.kind == Val.NULL ? "missing" : vals.typeName();
            throw new InvalidReading(Reasons.BAD_VALUES, "'values' must be an object, got " + got);
        }
        SmallMap m = vals.obj;
        if (m.n > MAX_SENSORS) {
            throw new InvalidReading(Reasons.BAD_VALUES, m.n + " sensors > limit " + MAX_SENSORS);
        }
        if (m.find("") >= 0) {
            throw new InvalidReading(Reasons.BAD_VALUES, "empty sensor name");
        }
        double[] spec = new double[nSpec];
        java.util.Arrays.fill(spec, Double.NaN);
        for (int k = 0; k < m.n; k++) {
            Val v = m.vals[k];
            String name = m.keys[k];
            if (v.kind == Val.NULL) {
                continue;
            }
            if (v.kind != Val.INT && v.kind != Val.FLOAT) {
                throw new InvalidReading(Reasons.NON_NUMERIC, name + " must be a number or null, got " + v.typeName());
            }
            double[] r = limits.get(name);
            if (r != null && !(r[0] <= v.d && v.d <= r[1])) {
                throw new InvalidReading(Reasons.OUT_OF_RANGE,
                        name + "=" + v.d + " outside physical range [" + r[0] + ", " + r[1] + "]");
            }
            Integer j = specIndex.get(name);
            if (j != null) {
                spec[j] = v.d;
            }
        }
        Reading reading = new Reading(dev.s, ts, spec, raw, partition, offset);
        return new Parsed(reading, wantValuesJson ? valuesJson(m) : null);
    }

    private long timestamp(Val t) throws InvalidReading {
        if (t == null || t.kind == Val.NULL) {
            throw new InvalidReading(Reasons.MISSING_TS, "field 'ts' is missing or null");
        }
        long ms;
        switch (t.kind) {
            case Val.INT:
                if (!t.fitsLong) {
                    throw new InvalidReading(Reasons.BAD_TS, "time " + t.d + " ms outside [" + minTsMs + ", " + MAX_TS_MS + ")");
                }
                ms = t.i;
                break;
            case Val.FLOAT: {
                double r = Math.rint(t.d); // Python's round(): halves to even
                if (!(r >= minTsMs && r < MAX_TS_MS)) {
                    throw new InvalidReading(Reasons.BAD_TS, "time " + t.d + " ms outside [" + minTsMs + ", " + MAX_TS_MS + ")");
                }
                ms = (long) r;
                break;
            }
            case Val.STR: {
                String s = t.s;
                if (s.isEmpty() || s.codePointCount(0, s.length()) > 64) {
                    throw new InvalidReading(Reasons.BAD_TS, "unparseable time");
                }
                ms = IsoTime.parse(s);
                if (ms == Long.MIN_VALUE) {
                    throw new InvalidReading(Reasons.BAD_TS, "unparseable time '" + s + "'");
                }
                break;
            }
            default:
                throw new InvalidReading(Reasons.BAD_TS,
                        "time must be an ISO-8601 string or epoch ms, got " + t.typeName());
        }
        if (!(minTsMs <= ms && ms < MAX_TS_MS)) {
            throw new InvalidReading(Reasons.BAD_TS, "time " + ms + " ms outside [" + minTsMs + ", " + MAX_TS_MS + ")");
        }
        return ms;
    }

    // ------------------------------------------------------------------ JSON walk

    private void checkUtf8(byte[] raw) throws InvalidReading {
        boolean ascii = true;
        for (byte b : raw) {
            if (b < 0) {
                ascii = false;
                break;
            }
        }
        if (ascii) {
            return;
        }
        if (utf8 == null) {
            utf8 = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
        }
        try {
            utf8.reset().decode(ByteBuffer.wrap(raw));
        } catch (CharacterCodingException e) {
            throw new InvalidReading(Reasons.NOT_UTF8, "not valid UTF-8: " + e.getMessage());
        }
    }

    private JsonFactory factory() {
        if (factory == null) {
            factory = JsonFactory.builder()
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxNestingDepth(Integer.MAX_VALUE)
                            .maxNumberLength(Integer.MAX_VALUE)
                            .maxStringLength(Integer.MAX_VALUE)
                            .maxNameLength(Integer.MAX_VALUE)
                            .maxDocumentLength(-1)
                            .build())
                    .build();
            factory.disable(JsonParser.Feature.AUTO_CLOSE_SOURCE);
        }
        return factory;
    }

    /** Raised inside the walk when the verdict is decided (bad_json or non_finite). */
    private static final class Verdict extends Exception {
        private static final long serialVersionUID = 1L;
        final String reason;
        final String detail;

        Verdict(String reason, String detail) {
            super(reason, null, false, false);
            this.reason = reason;
            this.detail = detail;
        }
    }

    /** Walk state: set when orjson would refuse the message but Python's json would not stop. */
    private boolean orjsonRefuses;
    private String orjsonDetail;

    /** The top-level object (null when the document is valid JSON but not an object). */
    private SmallMap document(byte[] raw) throws InvalidReading {
        orjsonRefuses = false;
        orjsonDetail = null;
        Val root;
        try {
            if (raw.length >= 3 && (raw[0] & 0xff) == 0xEF && (raw[1] & 0xff) == 0xBB && (raw[2] & 0xff) == 0xBF) {
                throw new Verdict(Reasons.BAD_JSON, "UTF-8 byte order mark is not supported");
            }
            try (JsonParser p = factory().createParser(raw)) {
                JsonToken t = p.nextToken();
                if (t == null) {
                    throw new Verdict(Reasons.BAD_JSON, "no JSON value");
                }
                root = value(p, t, 1, true, false);
                int end = (int) p.currentLocation().getByteOffset();
                for (int k = end; k < raw.length; k++) {
                    byte b = raw[k];
                    if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
                        throw new Verdict(Reasons.BAD_JSON, "unexpected content after document at byte " + k);
                    }
                }
            }
        } catch (Verdict v) {
            throw new InvalidReading(v.reason, v.detail);
        } catch (JsonProcessingException e) {
            throw new InvalidReading(Reasons.BAD_JSON, e.getOriginalMessage());
        } catch (IOException e) {
            throw new InvalidReading(Reasons.BAD_JSON, String.valueOf(e.getMessage()));
        }
        if (orjsonRefuses) {
            throw new InvalidReading(Reasons.BAD_JSON, orjsonDetail);
        }
        return root.kind == Val.OBJ ? root.obj : null;
    }

    private void refuse(String detail) {
        if (!orjsonRefuses) {
            orjsonRefuses = true;
            orjsonDetail = detail;
        }
    }

    private static void checkSurrogates(String s, ReadingParser self) {
        for (int i = 0, n = s.length(); i < n; i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                    continue;
                }
                self.refuse("no low surrogate in string");
                return;
            }
            if (Character.isLowSurrogate(c)) {
                self.refuse("invalid high surrogate in string");
                return;
            }
        }
    }

    /**
     * One JSON value starting at token {@code t}. {@code keep}: build the object's map (the
     * top level, and its "values"); {@code inKept}: the parent is such a map, so a scalar's value
     * is needed. Everything else is only scanned (syntax, NaN tokens, orjson's refusals).
     */
    private Val value(JsonParser p, JsonToken t, int depth, boolean keep, boolean inKept)
            throws IOException, Verdict {
        switch (t) {
            case START_OBJECT: {
                if (depth > MAX_DEPTH) {
                    throw new Verdict(Reasons.BAD_JSON, "depth limit exceeded");
                }
                SmallMap m = keep ? new SmallMap() : null;
                JsonToken k;
                while ((k = p.nextToken()) != JsonToken.END_OBJECT) {
                    if (k != JsonToken.FIELD_NAME) {
                        throw new Verdict(Reasons.BAD_JSON, "expected a field name");
                    }
                    String name = p.currentName();
                    checkSurrogates(name, this);
                    JsonToken vt = p.nextToken();
                    if (vt == null) {
                        throw new Verdict(Reasons.BAD_JSON, "unexpected end of data");
                    }
                    boolean keepChild = keep && depth == 1 && "values".equals(name);
                    Val v = value(p, vt, depth + 1, keepChild, keep);
                    if (m != null) {
                        m.put(name, v);
                    }
                }
                return Val.object(m);
            }
            case START_ARRAY: {
                if (depth > MAX_DEPTH) {
                    throw new Verdict(Reasons.BAD_JSON, "depth limit exceeded");
                }
                JsonToken e;
                while ((e = p.nextToken()) != JsonToken.END_ARRAY) {
                    if (e == null) {
                        throw new Verdict(Reasons.BAD_JSON, "unexpected end of data");
                    }
                    value(p, e, depth + 1, false, false);
                }
                return Val.ARRAY_VAL;
            }
            case VALUE_STRING: {
                String s = p.getText();
                checkSurrogates(s, this);
                return inKept ? Val.string(s) : Val.STR_VAL;
            }
            case VALUE_NUMBER_INT: {
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    BigInteger b = p.getBigIntegerValue();
                    double d = b.doubleValue();
                    if (Double.isInfinite(d)) {
                        refuse("number is infinity when parsed as double");
                    }
                    // orjson: an int up to 2**64 - 1, a float beyond: the same double either way,
                    // and out of any time range either way
                    return Val.number(Val.INT, 0L, d, false);
                }
                if (!inKept) {
                    return Val.NUM_VAL;
                }
                long l = p.getLongValue();
                return Val.number(Val.INT, l, (double) l, true);
            }
            case VALUE_NUMBER_FLOAT: {
                if (p.isNaN()) { // a non-numeric token (Jackson reads them as NaN or infinities)
                    String txt = p.getText();
                    if (txt.equals("NaN") || txt.equals("Infinity") || txt.equals("-Infinity")) {
                        throw new Verdict(Reasons.NON_FINITE, "JSON token " + txt + " is not a finite number");
                    }
                    throw new Verdict(Reasons.BAD_JSON, "unexpected token " + txt);
                }
                double d = p.getDoubleValue(); // correctly rounded (FastDoubleParser), as orjson
                if (Double.isInfinite(d)) {
                    refuse("number is infinity when parsed as double");
                }
                return inKept ? Val.number(Val.FLOAT, 0L, d, false) : Val.NUM_VAL;
            }
            case VALUE_TRUE:
            case VALUE_FALSE:
                return Val.BOOL_VAL;
            case VALUE_NULL:
                return Val.NULL_VAL;
            default:
                throw new Verdict(Reasons.BAD_JSON, "unexpected token " + t);
        }
    }

    private static String valuesJson(SmallMap m) {
        StringBuilder sb = new StringBuilder(16 * m.n + 2).append('{');
        for (int k = 0; k < m.n; k++) {
            if (k > 0) {
                sb.append(", ");
            }
            JsonText.quote(sb, m.keys[k]);
            sb.append(": ");
            Val v = m.vals[k];
            if (v.kind == Val.NULL) {
                sb.append("null");
            } else {
                JsonText.number(sb, v.d);
            }
        }
        return sb.append('}').toString();
    }

    /**
     * A JSON object's members as a Python dict holds them: insertion order of a key's first
     * occurrence, its last value. Linear search: readings have a handful of keys (a hash index
     * takes over past 32, so a 1,024-sensor message is not quadratic).
     */
    static final class SmallMap {
        String[] keys = new String[8];
        Val[] vals = new Val[8];
        int n;
        private Map<String, Integer> index;

        int find(String k) {
            if (index != null) {
                Integer i = index.get(k);
                return i == null ? -1 : i;
            }
            for (int i = 0; i < n; i++) {
                if (keys[i] == k || keys[i].equals(k)) {
                    return i;
                }
            }
            return -1;
        }

        Val get(String k) {
            int i = find(k);
            return i < 0 ? null : vals[i];
        }

        void put(String k, Val v) {
            int i = find(k);
            if (i >= 0) {
                vals[i] = v;
                return;
            }
            if (n == keys.length) {
                keys = java.util.Arrays.copyOf(keys, 2 * n);
                vals = java.util.Arrays.copyOf(vals, 2 * n);
            }
            keys[n] = k;
            vals[n] = v;
            if (index == null && n == 32) {
                index = new java.util.HashMap<>();
                for (int j = 0; j < n; j++) {
                    index.put(keys[j], j);
                }
            }
            if (index != null) {
                index.put(k, n);
            }
            n++;
        }
    }

    /** A parsed JSON value, as much of it as the checks need. */
    static final class Val {
        static final byte NULL = 0, BOOL = 1, INT = 2, FLOAT = 3, STR = 4, ARR = 5, OBJ = 6;
        static final Val NULL_VAL = new Val(NULL);
        static final Val BOOL_VAL = new Val(BOOL);
        static final Val ARRAY_VAL = new Val(ARR);
        /** Placeholders for scalars nobody reads (inside containers that are only scanned). */
        static final Val STR_VAL = new Val(STR);
        static final Val NUM_VAL = new Val(FLOAT);

        final byte kind;
        long i;
        double d;
        boolean fitsLong;
        String s;
        SmallMap obj;

        private Val(byte kind) {
            this.kind = kind;
        }

        static Val number(byte kind, long i, double d, boolean fitsLong) {
            Val v = new Val(kind);
            v.i = i;
            v.d = d;
            v.fitsLong = fitsLong;
            return v;
        }

        static Val string(String s) {
            Val v = new Val(STR);
            v.s = s;
            return v;
        }

        static Val object(SmallMap m) {
            Val v = new Val(OBJ);
            v.obj = m;
            return v;
        }

        /** Python's type name of the value, for messages. */
        String typeName() {
            switch (kind) {
                case NULL: return "NoneType";
                case BOOL: return "bool";
                case INT: return "int";
                case FLOAT: return "float";
                case STR: return "str";
                case ARR: return "list";
                default: return "dict";
            }
        }
    }
}
