package vigil.flink.schema;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** {@code udfs.schema.iso_ms}: epoch ms → {@code 2026-11-23T14:00:00.120Z}. */
public final class IsoMs {

    private static final DateTimeFormatter FMT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private IsoMs() {}

    public static String format(long ms) {
        return FMT.format(Instant.ofEpochMilli(ms));
    }
}
