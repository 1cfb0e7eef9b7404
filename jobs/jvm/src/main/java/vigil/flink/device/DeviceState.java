package vigil.flink.device;

import java.util.Arrays;

/**
 * The state of one device ({@code udfs.device_state.DeviceProcessor}'s fields), kept in keyed
 * state through {@link DeviceStateCodec} (a small header plus one entry per buffer row).
 * {@code layout} names the sensors the arrays are indexed by; {@link DeviceLogic#adapt} remaps
 * a state written under another layout (a new model's feature spec) by sensor name.
 */
public final class DeviceState {

    public static final long NO_TS = -(1L << 62);

    byte[] layout;
    long layoutHash;
    RingBuffer buf;
    long maxTs = NO_TS;
    int since;
    long nextEnd = NO_TS;
    long silentOpen = NO_TS;
    double[] lastVal;
    int[] sameRun;
    int[] missRun;
    long[] stuckOpen;
    long[] oorOpen;
    long[] missOpen;
    /**
     * Storage bookkeeping, not semantics: the processing time at which the operator last wrote
     * every buffer row to keyed state (their TTL refresh, {@code DeviceWindowsOperator}).
     */
    long rowsAt;

    DeviceState() {}

    static DeviceState fresh(DeviceSettings st) {
        DeviceState d = new DeviceState();
        d.layout = st.layout;
        d.layoutHash = st.layoutHash;
        d.buf = st.newBuffer();
        int s = st.s;
        d.lastVal = new double[s];
        Arrays.fill(d.lastVal, Double.NaN);
        d.sameRun = new int[s];
        d.missRun = new int[s];
        d.stuckOpen = filled(s);
        d.oorOpen = filled(s);
        d.missOpen = filled(s);
        return d;
    }

    private static long[] filled(int s) {
        long[] a = new long[s];
        Arrays.fill(a, NO_TS);
        return a;
    }

    public long maxTs() {
        return maxTs;
    }

    public RingBuffer buffer() {
        return buf;
    }

    public long rowsAt() {
        return rowsAt;
    }

    public void rowsAt(long t) {
        rowsAt = t;
    }
}
