package vigil.flink.schema;

/** The DLQ reasons of {@code udfs.schema.REASONS} (tests/test_jvm_equals_udfs.py checks the list). */
public final class Reasons {

    public static final String NOT_UTF8 = "not_utf8";
    public static final String OVERSIZED = "oversized";
    public static final String BAD_JSON = "bad_json";
    public static final String NOT_OBJECT = "not_object";
    public static final String MISSING_DEVICE = "missing_device";
    public static final String BAD_DEVICE = "bad_device";
    public static final String MISSING_TS = "missing_ts";
    public static final String BAD_TS = "bad_ts";
    public static final String BAD_VALUES = "bad_values";
    public static final String NON_NUMERIC = "non_numeric";
    public static final String NON_FINITE = "non_finite";
    public static final String OUT_OF_RANGE = "out_of_range";
    public static final String LATE = "late";

    public static final String[] ALL = {
        NOT_UTF8, OVERSIZED, BAD_JSON, NOT_OBJECT, MISSING_DEVICE, BAD_DEVICE, MISSING_TS, BAD_TS,
        BAD_VALUES, NON_NUMERIC, NON_FINITE, OUT_OF_RANGE, LATE,
    };

    private Reasons() {}
}
