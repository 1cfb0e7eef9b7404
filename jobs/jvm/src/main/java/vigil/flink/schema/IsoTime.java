package vigil.flink.schema;

import java.time.LocalDate;

/**
 * The reading time grammar of {@code udfs.schema.parse_iso_ms}: {@code YYYY-MM-DD}, optionally
 * followed by {@code T}, {@code t} or a space and {@code HH:MM[:SS[(.|,)F{1,9}]]}, then an
 * optional offset {@code Z}, {@code z}, {@code ±HH}, {@code ±HHMM} or {@code ±HH:MM} (none =
 * UTC). The fraction is rounded to the nearest millisecond, halves to even, with integer
 * arithmetic, so both implementations give the same epoch millisecond for every input.
 */
public final class IsoTime {

    private IsoTime() {}

    /** Epoch milliseconds of {@code s}, or {@code Long.MIN_VALUE} when it does not parse. */
    public static long parse(String s) {
        int n = s.length();
        if (n < 10) {
            return Long.MIN_VALUE;
        }
        int y = digits(s, 0, 4);
        if (y < 0 || s.charAt(4) != '-') {
            return Long.MIN_VALUE;
        }
        int mo = digits(s, 5, 2);
        if (mo < 0 || s.charAt(7) != '-') {
            return Long.MIN_VALUE;
        }
        int d = digits(s, 8, 2);
        if (d < 0 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > LocalDate.of(y, mo, 1).lengthOfMonth()) {
            return Long.MIN_VALUE;
        }
        long ms = LocalDate.of(y, mo, d).toEpochDay() * 86_400_000L;
        int i = 10;
        if (i == n) {
            return ms;
        }
        char sep = s.charAt(i);
        if (sep != 'T' && sep != 't' && sep != ' ') {
            return Long.MIN_VALUE;
        }
        i++;
        if (n < i + 5 || s.charAt(i + 2) != ':') {
            return Long.MIN_VALUE;
        }
        int hh = digits(s, i, 2);
        int mm = digits(s, i + 3, 2);
        if (hh < 0 || mm < 0 || hh > 23 || mm > 59) {
            return Long.MIN_VALUE;
        }
        ms += hh * 3_600_000L + mm * 60_000L;
        i += 5;
        if (i < n && s.charAt(i) == ':') {
            int ss = n >= i + 3 ? digits(s, i + 1, 2) : -1;
            if (ss < 0 || ss > 59) {
                return Long.MIN_VALUE;
            }
            ms += ss * 1000L;
            i += 3;
            if (i < n && (s.charAt(i) == '.' || s.charAt(i) == ',')) {
                int j = i + 1;
                long ns = 0;
                int k = 0;
                while (j < n && k < 9 && isDigit(s.charAt(j))) {
                    ns = ns * 10 + (s.charAt(j) - '0');
                    j++;
                    k++;
                }
                if (k == 0 || (j < n && isDigit(s.charAt(j)))) {
                    return Long.MIN_VALUE;
                }
                for (int p = k; p < 9; p++) {
                    ns *= 10;
                }
                long whole = ns / 1_000_000L;
                long rem = ns % 1_000_000L;
                if (rem > 500_000L || (rem == 500_000L && (whole & 1) == 1)) {
                    whole++;
                }
                ms += whole;
                i = j;
            }
        }
        if (i == n) {
            return ms;
        }
        char z = s.charAt(i);
        if ((z == 'Z' || z == 'z') && i + 1 == n) {
            return ms;
        }
        if (z != '+' && z != '-') {
            return Long.MIN_VALUE;
        }
        int oh = n >= i + 3 ? digits(s, i + 1, 2) : -1;
        if (oh < 0 || oh > 23) {
            return Long.MIN_VALUE;
        }
        i += 3;
        int om = 0;
        if (i < n) {
            if (s.charAt(i) == ':') {
                i++;
            }
            om = n == i + 2 ? digits(s, i, 2) : -1;
            if (om < 0 || om > 59) {
                return Long.MIN_VALUE;
            }
            i += 2;
        }
        if (i != n) {
            return Long.MIN_VALUE;
        }
        long off = oh * 3_600_000L + om * 60_000L;
        return z == '+' ? ms - off : ms + off;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** The {@code len} ASCII digits at {@code at} as a number, or -1. */
    private static int digits(String s, int at, int len) {
        if (at + len > s.length()) {
            return -1;
        }
        int v = 0;
        for (int k = at; k < at + len; k++) {
            char c = s.charAt(k);
            if (!isDigit(c)) {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }
}
