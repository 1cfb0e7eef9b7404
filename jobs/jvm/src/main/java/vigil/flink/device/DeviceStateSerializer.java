package vigil.flink.device;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Compact binary form of {@link DeviceState} (version byte, sensor layout, the buffer's used
 * rows only, scalars, per-sensor arrays): one RocksDB value per device, about
 * {@code 12 + n·(8 + 4·S) + 40·S} bytes plus the layout.
 */
public final class DeviceStateSerializer extends TypeSerializerSingleton<DeviceState> {

    private static final long serialVersionUID = 1L;
    private static final byte VERSION = 1;

    public static final DeviceStateSerializer INSTANCE = new DeviceStateSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public DeviceState createInstance() {
        return new DeviceState();
    }

    @Override
    public DeviceState copy(DeviceState from) {
        return from.copy();
    }

    @Override
    public DeviceState copy(DeviceState from, DeviceState reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(DeviceState d, DataOutputView out) throws IOException {
        out.writeByte(VERSION);
        out.writeInt(d.layout.length);
        out.write(d.layout);
        RingBuffer b = d.buf;
        int s = b.s;
        out.writeInt(s);
        out.writeInt(b.cap);
        out.writeBoolean(b.growable);
        out.writeInt(b.n);
        for (int i = 0; i < b.n; i++) {
            out.writeLong(b.ts[i]);
        }
        for (int k = 0, m = b.n * s; k < m; k++) {
            out.writeFloat(b.values[k]);
        }
        out.writeLong(d.maxTs);
        out.writeInt(d.since);
        out.writeLong(d.nextEnd);
        out.writeLong(d.silentOpen);
        for (int j = 0; j < s; j++) {
            out.writeDouble(d.lastVal[j]);
            out.writeInt(d.sameRun[j]);
            out.writeInt(d.missRun[j]);
            out.writeLong(d.stuckOpen[j]);
            out.writeLong(d.oorOpen[j]);
            out.writeLong(d.missOpen[j]);
        }
    }

    @Override
    public DeviceState deserialize(DataInputView in) throws IOException {
        byte v = in.readByte();
        if (v != VERSION) {
            throw new IOException("device state version " + v + ", expected " + VERSION);
        }
        DeviceState d = new DeviceState();
        d.layout = new byte[in.readInt()];
        in.readFully(d.layout);
        int s = in.readInt();
        int cap = in.readInt();
        boolean growable = in.readBoolean();
        int n = in.readInt();
        if (n > cap || n < 0) {
            throw new IOException("corrupt device state: n " + n + " > capacity " + cap);
        }
        long[] ts = new long[growable ? Math.max(n, Math.min(cap, 64)) : cap];
        float[] values = new float[ts.length * s];
        for (int i = 0; i < n; i++) {
            ts[i] = in.readLong();
        }
        for (int k = 0, m = n * s; k < m; k++) {
            values[k] = in.readFloat();
        }
        d.buf = new RingBuffer(cap, s, growable, n, ts, values);
        d.maxTs = in.readLong();
        d.since = in.readInt();
        d.nextEnd = in.readLong();
        d.silentOpen = in.readLong();
        d.lastVal = new double[s];
        d.sameRun = new int[s];
        d.missRun = new int[s];
        d.stuckOpen = new long[s];
        d.oorOpen = new long[s];
        d.missOpen = new long[s];
        for (int j = 0; j < s; j++) {
            d.lastVal[j] = in.readDouble();
            d.sameRun[j] = in.readInt();
            d.missRun[j] = in.readInt();
            d.stuckOpen[j] = in.readLong();
            d.oorOpen[j] = in.readLong();
            d.missOpen[j] = in.readLong();
        }
        return d;
    }

    @Override
    public DeviceState deserialize(DeviceState reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<DeviceState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Serializer snapshot: the format carries its own version byte. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<DeviceState> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
