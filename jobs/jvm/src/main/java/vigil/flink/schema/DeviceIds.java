package vigil.flink.schema;

/**
 * The device id rule of {@code udfs.schema.valid_device_id}: 1 to 256 code points, not only
 * spaces, and no code point of the Unicode general categories Cc, Cf, Cs, Co, Zl, Zp, or Zs
 * other than U+0020. Unassigned code points (Cn) are allowed, so the rule depends on the
 * Unicode version only for code points assigned to those categories between two versions.
 */
public final class DeviceIds {

    public static final int MAX_LEN = 256;

    private DeviceIds() {}

    public static boolean valid(String s) {
        int n = s.length();
        if (n == 0 || s.codePointCount(0, n) > MAX_LEN) {
            return false;
        }
        boolean onlySpaces = true;
        for (int i = 0; i < n; ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == ' ') {
                continue;
            }
            onlySpaces = false;
            if (cp < 0x7f && cp > 0x20) {
                continue; // printable ASCII: the common case
            }
            switch (Character.getType(cp)) {
                case Character.CONTROL:
                case Character.FORMAT:
                case Character.SURROGATE:
                case Character.PRIVATE_USE:
                case Character.LINE_SEPARATOR:
                case Character.PARAGRAPH_SEPARATOR:
                case Character.SPACE_SEPARATOR:
                    return false;
                default:
                    break;
            }
        }
        return !onlySpaces;
    }
}
