package vigil.flink.schema;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/**
 * {@code udfs.schema.dlq_record} as JSON bytes: reason, detail, the raw payload (as text when it
 * is UTF-8, else base64; truncated past 256 KiB), topic, partition, offset, received_at.
 */
public final class DlqRecord {

    private static final int RAW_LIMIT = 256 * 1024;

    private DlqRecord() {}

    public static byte[] json(String reason, String detail, byte[] raw, String topic, Integer partition,
                              Long offset, long receivedAtMs) {
        if (raw == null) {
            raw = new byte[0];
        }
        boolean truncated = raw.length > RAW_LIMIT;
        byte[] body = truncated ? Arrays.copyOf(raw, RAW_LIMIT) : raw;
        String text;
        String enc;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body)).toString();
            enc = "utf8";
        } catch (CharacterCodingException e) {
            text = Base64.getEncoder().encodeToString(body);
            enc = "base64";
        }
        StringBuilder sb = new StringBuilder(body.length + 256).append("{\"reason\": ");
        JsonText.quote(sb, reason).append(", \"detail\": ");
        JsonText.quote(sb, detail == null ? "" : detail).append(", \"raw\": ");
        JsonText.quote(sb, text).append(", \"raw_encoding\": \"").append(enc)
                .append("\", \"raw_truncated\": ").append(truncated).append(", \"topic\": ");
        JsonText.quote(sb, topic).append(", \"partition\": ").append(partition)
                .append(", \"offset\": ").append(offset).append(", \"received_at\": \"")
                .append(IsoMs.format(receivedAtMs)).append("\"}");
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
