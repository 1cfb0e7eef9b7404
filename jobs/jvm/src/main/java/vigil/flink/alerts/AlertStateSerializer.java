package vigil.flink.alerts;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** Binary form of {@link AlertState} (version byte first). */
public final class AlertStateSerializer extends TypeSerializerSingleton<AlertState> {

    private static final long serialVersionUID = 1L;
    private static final byte VERSION = 1;

    public static final AlertStateSerializer INSTANCE = new AlertStateSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public AlertState createInstance() {
        return new AlertState();
    }

    @Override
    public AlertState copy(AlertState from) {
        return from.copy();
    }

    @Override
    public AlertState copy(AlertState from, AlertState reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(AlertState a, DataOutputView out) throws IOException {
        out.writeByte(VERSION);
        out.writeInt(a.above);
        out.writeInt(a.below);
        out.writeLong(a.runStart);
        out.writeLong(a.openEnd);
        out.writeLong(a.lastClose);
        out.writeDouble(a.peak);
        out.writeDouble(a.openScore);
        out.writeDouble(a.openThreshold);
        out.writeUTF(a.openId);
        out.writeUTF(a.severity);
        out.writeUTF(a.modelName);
        out.writeUTF(a.modelVersion);
        out.writeLong(a.histN);
        out.writeInt(a.hist.length);
        for (double h : a.hist) {
            out.writeDouble(h);
        }
    }

    @Override
    public AlertState deserialize(DataInputView in) throws IOException {
        byte v = in.readByte();
        if (v != VERSION) {
            throw new IOException("alert state version " + v + ", expected " + VERSION);
        }
        AlertState a = new AlertState();
        a.above = in.readInt();
        a.below = in.readInt();
        a.runStart = in.readLong();
        a.openEnd = in.readLong();
        a.lastClose = in.readLong();
        a.peak = in.readDouble();
        a.openScore = in.readDouble();
        a.openThreshold = in.readDouble();
        a.openId = in.readUTF();
        a.severity = in.readUTF();
        a.modelName = in.readUTF();
        a.modelVersion = in.readUTF();
        a.histN = in.readLong();
        a.hist = new double[in.readInt()];
        for (int i = 0; i < a.hist.length; i++) {
            a.hist[i] = in.readDouble();
        }
        return a;
    }

    @Override
    public AlertState deserialize(AlertState reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public TypeSerializerSnapshot<AlertState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Serializer snapshot: the format carries its own version byte. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<AlertState> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
