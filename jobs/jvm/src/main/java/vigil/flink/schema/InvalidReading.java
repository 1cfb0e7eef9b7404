package vigil.flink.schema;

/**
 * A message that cannot become a {@link Reading}: {@code reason} is one of the DLQ reasons of
 * {@code udfs/schema.py} ({@code REASONS}), {@code detail} a human explanation. Thrown per bad
 * message, so it carries no stack trace.
 */
public final class InvalidReading extends Exception {

    private static final long serialVersionUID = 1L;

    public final String reason;
    public final String detail;

    public InvalidReading(String reason, String detail) {
        super(reason + ": " + detail, null, false, false);
        this.reason = reason;
        this.detail = detail;
    }
}
