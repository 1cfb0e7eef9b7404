package vigil.flink.device;

import java.util.Arrays;

/**
 * {@code udfs.windows.RingBuffer}: one device's last readings in time order, {@code ts[n]}
 * ascending and {@code values[n * S]} float32 (NaN = missing), with exactly the reference's
 * insert rules: in-order readings append (dropping the oldest when full); out-of-order ones go
 * to their place; an existing timestamp is merged (newer non-missing values win); when full,
 * a reading older than everything held is dropped. {@code growable} buffers (time windows)
 * double up to {@link #MAX_CAPACITY} before dropping.
 */
public final class RingBuffer {

    public static final int MAX_CAPACITY = 1 << 16;

    public static final int APPENDED = 0, INSERTED = 1, MERGED = 2, DROPPED = 3;

    int cap;
    final int s;
    final boolean growable;
    int n;
    long[] ts;
    float[] values;

    public RingBuffer(int capacity, int nSensors, boolean growable) {
        this.cap = Math.max(capacity, 1);
        this.s = nSensors;
        this.growable = growable;
        this.ts = new long[growable ? Math.min(cap, 64) : cap];
        this.values = new float[ts.length * s];
    }

    RingBuffer(int cap, int nSensors, boolean growable, int n, long[] ts, float[] values) {
        this.cap = cap;
        this.s = nSensors;
        this.growable = growable;
        this.n = n;
        this.ts = ts;
        this.values = values;
    }

    public int size() {
        return n;
    }

    public long ts(int i) {
        return ts[i];
    }

    public float value(int i, int j) {
        return values[i * s + j];
    }

    private void ensureArrays(int want) {
        if (ts.length < want) {
            int len = Math.min(Math.max(want, ts.length * 2), cap);
            ts = Arrays.copyOf(ts, len);
            values = Arrays.copyOf(values, len * s);
        }
    }

    private boolean grow() {
        if (!growable || cap >= MAX_CAPACITY) {
            return false;
        }
        cap = Math.min(cap * 2, MAX_CAPACITY);
        return true;
    }

    private void dropOldest() {
        System.arraycopy(ts, 1, ts, 0, n - 1);
        System.arraycopy(values, s, values, 0, (n - 1) * s);
        n--;
    }

    /** First index with {@code ts[i] >= t} (numpy's searchsorted, side left). */
    public int searchLeft(long t) {
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ts[mid] < t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Insert one reading ({@code row.length == S}); returns APPENDED, INSERTED, MERGED or DROPPED. */
    public int insert(long t, float[] row) {
        if (n > 0 && t <= ts[n - 1]) {
            int i = searchLeft(t);
            if (i < n && ts[i] == t) {
                int k = i * s;
                for (int j = 0; j < s; j++) {
                    if (!Float.isNaN(row[j])) {
                        values[k + j] = row[j];
                    }
                }
                return MERGED;
            }
            if (n == cap && !grow()) {
                if (i == 0) {
                    return DROPPED;
                }
                dropOldest();
                i--;
            }
            ensureArrays(n + 1);
            System.arraycopy(ts, i, ts, i + 1, n - i);
            System.arraycopy(values, i * s, values, (i + 1) * s, (n - i) * s);
            ts[i] = t;
            System.arraycopy(row, 0, values, i * s, s);
            n++;
            return INSERTED;
        }
        if (n == cap && !grow()) {
            dropOldest();
        }
        ensureArrays(n + 1);
        ts[n] = t;
        System.arraycopy(row, 0, values, n * s, s);
        n++;
        return APPENDED;
    }

    /** Drop readings older than {@code t}; returns how many. */
    public int evictBefore(long t) {
        int k = searchLeft(t);
        if (k > 0) {
            System.arraycopy(ts, k, ts, 0, n - k);
            System.arraycopy(values, k * s, values, 0, (n - k) * s);
            n -= k;
        }
        return k;
    }
}
