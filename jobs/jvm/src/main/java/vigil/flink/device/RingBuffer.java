package vigil.flink.device;

import java.util.Arrays;
import java.util.BitSet;

/**
 * {@code udfs.windows.RingBuffer}: one device's last readings in time order, float32 values
 * (NaN = missing), with exactly the reference's insert rules: in-order readings append
 * (dropping the oldest when full); out-of-order ones go to their place; an existing timestamp is
 * merged (newer non-missing values win); when full, a reading older than everything held is
 * dropped. {@code growable} buffers (time windows) double up to {@link #MAX_CAPACITY} before
 * dropping.
 *
 * <p>Storage is circular over {@code slots} physical rows (logical row {@code i} lives in slot
 * {@code (head + i) % slots}) and every written slot is marked dirty, so the operator persists
 * only the rows a reading changed (usually one) instead of the whole buffer.
 */
public final class RingBuffer {

    public static final int MAX_CAPACITY = 1 << 16;

    public static final int APPENDED = 0, INSERTED = 1, MERGED = 2, DROPPED = 3;

    int cap;
    final int s;
    final boolean growable;
    int n;
    int head;
    long[] ts;
    float[] values;
    /** Physical slots written since the last {@link #clearDirty()}. */
    final BitSet dirty = new BitSet();
    /** The slots were re-laid out (grown): every row must be persisted again. */
    boolean relaid;

    public RingBuffer(int capacity, int nSensors, boolean growable) {
        this.cap = Math.max(capacity, 1);
        this.s = nSensors;
        this.growable = growable;
        int slots = growable ? Math.min(cap, 64) : cap;
        this.ts = new long[slots];
        this.values = new float[slots * s];
    }

    RingBuffer(int cap, int nSensors, boolean growable, int n, int head, long[] ts, float[] values) {
        this.cap = cap;
        this.s = nSensors;
        this.growable = growable;
        this.n = n;
        this.head = head;
        this.ts = ts;
        this.values = values;
    }

    public int size() {
        return n;
    }

    /** Physical slots (the length of the storage arrays). */
    int slots() {
        return ts.length;
    }

    /** Physical slot of logical row {@code i}. */
    public int slot(int i) {
        int p = head + i;
        return p >= ts.length ? p - ts.length : p;
    }

    public long ts(int i) {
        return ts[slot(i)];
    }

    public float value(int i, int j) {
        return values[slot(i) * s + j];
    }

    /** Logical row {@code i}'s values into {@code out} at {@code at}. */
    void copyRow(int i, float[] out, int at) {
        System.arraycopy(values, slot(i) * s, out, at, s);
    }

    /** Physical slots written since the last {@link #clearDirty()}. */
    public BitSet dirty() {
        return dirty;
    }

    /** True when the storage was re-laid out since the last {@link #clearDirty()}: rewrite every row. */
    public boolean relaid() {
        return relaid;
    }

    public void clearDirty() {
        dirty.clear();
        relaid = false;
    }

    private void write(int i, long t, float[] row) {
        int p = slot(i);
        ts[p] = t;
        System.arraycopy(row, 0, values, p * s, s);
        dirty.set(p);
    }

    /** Storage of {@code size} slots holding the rows in logical order from slot 0. */
    private void relayout(int size) {
        long[] nts = new long[size];
        float[] nv = new float[size * s];
        for (int i = 0; i < n; i++) {
            int p = slot(i);
            nts[i] = ts[p];
            System.arraycopy(values, p * s, nv, i * s, s);
        }
        ts = nts;
        values = nv;
        head = 0;
        relaid = true;
    }

    private boolean grow() {
        if (!growable || cap >= MAX_CAPACITY) {
            return false;
        }
        cap = Math.min(cap * 2, MAX_CAPACITY);
        return true;
    }

    private void dropOldest() {
        head = head + 1 == ts.length ? 0 : head + 1;
        n--;
    }

    /** Make room for one more row (storage grows lazily up to {@code cap} slots). */
    private void ensureSlot() {
        if (n == ts.length) {
            relayout(Math.min(Math.max(ts.length * 2, n + 1), cap));
        }
    }

    /** First logical index with {@code ts(i) >= t} (numpy's searchsorted, side left). */
    public int searchLeft(long t) {
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (ts(mid) < t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Insert one reading ({@code row.length == S}); returns APPENDED, INSERTED, MERGED or DROPPED. */
    public int insert(long t, float[] row) {
        if (n > 0 && t <= ts(n - 1)) {
            int i = searchLeft(t);
            if (i < n && ts(i) == t) {
                int p = slot(i);
                int k = p * s;
                for (int j = 0; j < s; j++) {
                    if (!Float.isNaN(row[j])) {
                        values[k + j] = row[j];
                    }
                }
                dirty.set(p);
                return MERGED;
            }
            if (n == cap && !grow()) {
                if (i == 0) {
                    return DROPPED;
                }
                dropOldest();
                i--;
            }
            ensureSlot();
            for (int k = n; k > i; k--) { // shift the later rows one slot on
                int to = slot(k);
                int from = slot(k - 1);
                ts[to] = ts[from];
                System.arraycopy(values, from * s, values, to * s, s);
                dirty.set(to);
            }
            write(i, t, row);
            n++;
            return INSERTED;
        }
        if (n == cap && !grow()) {
            dropOldest();
        }
        ensureSlot();
        write(n, t, row);
        n++;
        return APPENDED;
    }

    /** Drop readings older than {@code t}; returns how many. */
    public int evictBefore(long t) {
        int k = searchLeft(t);
        if (k > 0) {
            head = (head + k) % ts.length;
            n -= k;
        }
        return k;
    }

    @Override
    public String toString() {
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
            t[i] = ts(i);
        }
        return "RingBuffer" + Arrays.toString(t);
    }
}
