package vigil.flink.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Map;
import java.util.function.LongFunction;

/**
 * How a {@link DeviceState} is kept in keyed state: a compact <b>header</b> (scalars, buffer
 * geometry, per-sensor run counters; ~100 bytes for 8 sensors) and one <b>row</b> entry per
 * buffer slot ({@code ts} + the sensors' float32 values). A reading usually changes the header
 * and one row, so a checkpoint writes ~150 bytes per changed device instead of the whole
 * 60-reading buffer (2.4 KB): measured, the buffer rewrites were RocksDB's flush, compaction and
 * checkpoint upload work at 100k devices (docs/job.md).
 *
 * <p>The header names its sensor layout by a 64-bit hash ({@link #layoutHash}); the operator keeps
 * the layouts themselves in operator state, so a state written under another model's sensors
 * can be remapped by name after a restore.
 */
public final class DeviceStateCodec {

    private static final byte VERSION = 2;
    private static final long NO_TS = DeviceState.NO_TS;

    private DeviceStateCodec() {}

    /** First 8 bytes of SHA-256 of the layout (sensor names joined by U+001F). */
    public static long layoutHash(byte[] layout) {
        try {
            return ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(layout)).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String layoutString(byte[] layout) {
        return new String(layout, StandardCharsets.UTF_8);
    }

    public static byte[] layoutBytes(String layout) {
        return layout.getBytes(StandardCharsets.UTF_8);
    }

    /** The header of {@code d} (its buffer's geometry included; not its rows). */
    public static byte[] header(DeviceState d) {
        RingBuffer b = d.buf;
        int s = b.s;
        ByteBuffer bb = ByteBuffer.allocate(64 + 40 * s);
        bb.put(VERSION).putLong(d.layoutHash);
        putVar(bb, s);
        putVar(bb, b.cap);
        putVar(bb, b.slots());
        bb.put((byte) (b.growable ? 1 : 0));
        putVar(bb, b.n);
        putVar(bb, b.head);
        bb.putLong(d.maxTs);
        bb.putLong(d.rowsAt);
        putVar(bb, d.since);
        putTs(bb, d.nextEnd);
        putTs(bb, d.silentOpen);
        for (int j = 0; j < s; j++) {
            bb.putDouble(d.lastVal[j]);
            putVar(bb, d.sameRun[j]);
            putVar(bb, d.missRun[j]);
            putTs(bb, d.stuckOpen[j]);
            putTs(bb, d.oorOpen[j]);
            putTs(bb, d.missOpen[j]);
        }
        return Arrays.copyOf(bb.array(), bb.position());
    }

    /** Row entry of physical slot {@code p}: ts, then the sensors' float32 values (little-endian). */
    public static byte[] row(DeviceState d, int p) {
        RingBuffer b = d.buf;
        ByteBuffer bb = ByteBuffer.allocate(8 + 4 * b.s).order(ByteOrder.LITTLE_ENDIAN); // no byte swap on x86
        bb.putLong(b.ts[p]);
        bb.asFloatBuffer().put(b.values, p * b.s, b.s);
        return bb.array();
    }

    /** Where {@link #changedRows} writes a row entry (a MapState, a map). */
    @FunctionalInterface
    public interface RowSink {
        void put(int slot, byte[] row) throws Exception;
    }

    /**
     * The row entries to write after {@code d} changed: every live row when {@code all} (after a
     * re-layout, or to refresh their TTL), else the rows marked dirty; then clears the marks.
     */
    public static void changedRows(DeviceState d, boolean all, RowSink sink) throws Exception {
        RingBuffer b = d.buf;
        if (all) {
            for (int i = 0; i < b.size(); i++) {
                sink.put(b.slot(i), row(d, b.slot(i)));
            }
        } else {
            for (int p = b.dirty().nextSetBit(0); p >= 0; p = b.dirty().nextSetBit(p + 1)) {
                sink.put(p, row(d, p));
            }
        }
        b.clearDirty();
    }

    /** The layout hash a header was written under. */
    public static long headerLayout(byte[] header) {
        return ByteBuffer.wrap(header, 1, 8).getLong();
    }

    /**
     * A state from its header, the layout that header names ({@code layouts.apply(hash)}) and its
     * row entries (slot → bytes; entries beyond the storage are ignored). Null when a row the
     * header says is live is missing: rows expire (TTL) separately from their header, and a
     * device with a hole in its buffer is treated as expired, never read with made-up rows.
     */
    public static DeviceState decode(byte[] header, LongFunction<byte[]> layouts, Iterable<Map.Entry<Integer, byte[]>> rows) {
        ByteBuffer bb = ByteBuffer.wrap(header);
        byte v = bb.get();
        if (v != VERSION) {
            throw new IllegalStateException("device state version " + v + ", expected " + VERSION);
        }
        long hash = bb.getLong();
        byte[] layout = layouts.apply(hash);
        if (layout == null) {
            throw new IllegalStateException("device state written under an unknown sensor layout " + hash);
        }
        int s = getVar(bb);
        int cap = getVar(bb);
        int slots = getVar(bb);
        boolean growable = bb.get() != 0;
        int n = getVar(bb);
        int head = getVar(bb);
        long[] ts = new long[slots];
        float[] values = new float[slots * s];
        BitSet found = new BitSet(slots);
        for (Map.Entry<Integer, byte[]> e : rows) {
            int p = e.getKey();
            if (p < slots) {
                ByteBuffer r = ByteBuffer.wrap(e.getValue()).order(ByteOrder.LITTLE_ENDIAN);
                ts[p] = r.getLong();
                r.asFloatBuffer().get(values, p * s, s);
                found.set(p);
            }
        }
        RingBuffer buf = new RingBuffer(cap, s, growable, n, head, ts, values);
        for (int i = 0; i < buf.size(); i++) {
            if (!found.get(buf.slot(i))) {
                return null; // a row expired (TTL) before its header: the device is forgotten whole
            }
        }
        DeviceState d = new DeviceState();
        d.layout = layout;
        d.layoutHash = hash;
        d.buf = buf;
        d.maxTs = bb.getLong();
        d.rowsAt = bb.getLong();
        d.since = getVar(bb);
        d.nextEnd = getTs(bb);
        d.silentOpen = getTs(bb);
        d.lastVal = new double[s];
        d.sameRun = new int[s];
        d.missRun = new int[s];
        d.stuckOpen = new long[s];
        d.oorOpen = new long[s];
        d.missOpen = new long[s];
        for (int j = 0; j < s; j++) {
            d.lastVal[j] = bb.getDouble();
            d.sameRun[j] = getVar(bb);
            d.missRun[j] = getVar(bb);
            d.stuckOpen[j] = getTs(bb);
            d.oorOpen[j] = getTs(bb);
            d.missOpen[j] = getTs(bb);
        }
        return d;
    }

    /** Non-negative int as a varint (1 byte below 128). */
    private static void putVar(ByteBuffer bb, int v) {
        while ((v & ~0x7f) != 0) {
            bb.put((byte) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        bb.put((byte) v);
    }

    private static int getVar(ByteBuffer bb) {
        int v = 0;
        for (int shift = 0; ; shift += 7) {
            byte b = bb.get();
            v |= (b & 0x7f) << shift;
            if (b >= 0) {
                return v;
            }
        }
    }

    /** A time that is usually absent (NO_TS): one byte for absent, nine for present. */
    private static void putTs(ByteBuffer bb, long t) {
        if (t == NO_TS) {
            bb.put((byte) 0);
        } else {
            bb.put((byte) 1).putLong(t);
        }
    }

    private static long getTs(ByteBuffer bb) {
        return bb.get() == 0 ? NO_TS : bb.getLong();
    }
}
