package vigil.flink.device;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import vigil.flink.schema.AlertJson;
import vigil.flink.schema.IsoMs;

/**
 * {@code udfs.device_state.DeviceProcessor} in the JVM: lateness, the time-ordered buffer,
 * count and time windows, stream-level alerts (out_of_range, sensor_stuck, a sensor missing
 * longer than max_gap) and the device's silence deadline. Same rules, same order of checks,
 * same alert ids; the module docstring of {@code udfs/device_state.py} is the specification.
 *
 * <p>Stateless itself: it mutates the {@link DeviceState} it is given and writes what one reading
 * produced into a reused {@link Step}. Not thread-safe (the step is reused).
 */
public final class DeviceLogic implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final long NO_TS = DeviceState.NO_TS;

    private final DeviceSettings st;
    private transient Step step;
    private transient float[] row;

    public DeviceLogic(DeviceSettings settings) {
        this.st = settings;
    }

    public DeviceSettings settings() {
        return st;
    }

    /** A window ready for batch scoring: float32 {@code [T, S]} row-major, NaN = missing. */
    public static final class WindowOut {
        public final long start;
        public final long end;
        public final float[] values;
        public final int nReadings;

        WindowOut(long start, long end, float[] values, int nReadings) {
            this.start = start;
            this.end = end;
            this.values = values;
            this.nReadings = nReadings;
        }
    }

    /** One stream-level alert event: its kind (for metrics) and its JSON message. */
    public static final class AlertOut {
        public final String kind;
        public final String status;
        public final byte[] json;

        AlertOut(String kind, String status, byte[] json) {
            this.kind = kind;
            this.status = status;
            this.json = json;
        }
    }

    /** What one reading (or timer) produced. Reused: read it before the next call. */
    public static final class Step {
        public boolean late;
        public String lateDetail;
        /** A device-level stream_silent closed: the silence timer must be armed again. */
        public boolean silenceClosed;
        public final List<WindowOut> windows = new ArrayList<>(2);
        public final List<AlertOut> alerts = new ArrayList<>(2);

        void reset() {
            late = false;
            lateDetail = null;
            silenceClosed = false;
            windows.clear();
            alerts.clear();
        }
    }

    public DeviceState fresh() {
        return DeviceState.fresh(st);
    }

    private Step step() {
        if (step == null) {
            step = new Step();
            row = new float[st.s];
        }
        step.reset();
        return step;
    }

    // ------------------------------------------------------------------ alerts

    private void alert(Step out, String dev, String kind, String sensor, long openTs, String status, long eventMs,
                       String detail, String severity, long startMs, long detectedMs) {
        boolean closed = status.equals("closed");
        byte[] json = AlertJson.json(AlertJson.alertId(dev, openTs, kind, "-", sensor), dev, kind, severity, status,
                startMs == NO_TS ? openTs : startMs, openTs, detectedMs == NO_TS ? eventMs : detectedMs, openTs,
                closed ? eventMs : null, null, null, null, null, null, 0.0, sensor, detail);
        out.alerts.add(new AlertOut(kind, status, json));
    }

    private void streamChecks(DeviceState d, String dev, long ts, double[] vals, Step out) {
        double tol = st.stuckTolerance;
        for (int j = 0; j < st.s; j++) {
            double v = vals[j];
            String name = st.sensors[j];
            if (Double.isNaN(v)) {
                d.missRun[j]++;
                if (d.missRun[j] > st.maxGap && d.missOpen[j] == NO_TS) {
                    d.missOpen[j] = ts;
                    alert(out, dev, "stream_silent", name, ts, "open", ts, name + " missing for " + d.missRun[j]
                            + " readings > max_gap " + st.maxGap, "warning", NO_TS, NO_TS);
                }
                continue;
            }
            d.missRun[j] = 0;
            if (d.missOpen[j] != NO_TS) {
                alert(out, dev, "stream_silent", name, d.missOpen[j], "closed", ts, "sensor reports again",
                        "warning", NO_TS, NO_TS);
                d.missOpen[j] = NO_TS;
            }
            double lo = st.opLo[j];
            double hi = st.opHi[j];
            if (v < lo || v > hi) {
                if (d.oorOpen[j] == NO_TS) {
                    double span = Double.isFinite(hi - lo) ? hi - lo : 0.0;
                    boolean far = span > 0 && (v > hi + 0.5 * span || v < lo - 0.5 * span);
                    d.oorOpen[j] = ts;
                    alert(out, dev, "out_of_range", name, ts, "open", ts, name + "=" + v
                            + " outside operating limits [" + lo + ", " + hi + "]", far ? "critical" : "warning",
                            NO_TS, NO_TS);
                }
            } else if (d.oorOpen[j] != NO_TS) {
                alert(out, dev, "out_of_range", name, d.oorOpen[j], "closed", ts, "back within operating limits",
                        "warning", NO_TS, NO_TS);
                d.oorOpen[j] = NO_TS;
            }
            if (Math.abs(v - d.lastVal[j]) <= tol) {
                d.sameRun[j]++;
                if (d.sameRun[j] >= st.stuckAfter && d.stuckOpen[j] == NO_TS) {
                    d.stuckOpen[j] = ts;
                    alert(out, dev, "sensor_stuck", name, ts, "open", ts, name + " constant at " + v + " for "
                            + d.sameRun[j] + " readings", "warning", NO_TS, NO_TS);
                }
            } else {
                d.sameRun[j] = 1;
                if (d.stuckOpen[j] != NO_TS) {
                    alert(out, dev, "sensor_stuck", name, d.stuckOpen[j], "closed", ts, "values change again",
                            "warning", NO_TS, NO_TS);
                    d.stuckOpen[j] = NO_TS;
                }
            }
            d.lastVal[j] = v;
        }
    }

    // ------------------------------------------------------------------ readings

    /**
     * Process one validated reading of device {@code dev} ({@code vals} in spec order, NaN =
     * missing). {@code nowMs}: the detection wall clock, or {@link DeviceState#NO_TS} for the
     * reading's own time (replay).
     */
    public Step onReading(DeviceState d, String dev, long ts, double[] vals, long nowMs) {
        Step out = step();
        if (d.maxTs != NO_TS) {
            long horizon = d.maxTs - st.outOfOrdernessMs - st.allowedLatenessMs;
            if (ts < horizon) {
                out.late = true;
                out.lateDetail = "ts " + ts + " is " + (horizon - ts) + " ms behind the device's lateness horizon "
                        + horizon;
                return out;
            }
        }
        for (int j = 0; j < st.s; j++) {
            row[j] = (float) vals[j];
        }
        long at = nowMs == NO_TS ? ts : nowMs;
        if (d.silentOpen == NO_TS && d.maxTs != NO_TS && ts >= d.maxTs + st.silentAfterMs) {
            // the gap is visible in the data: open (and close below) whatever the timers did
            openSilence(d, dev, ts, out);
        }
        if (d.silentOpen != NO_TS) {
            alert(out, dev, "stream_silent", null, d.silentOpen, "closed", ts, "device reports again", "warning",
                    NO_TS, at);
            d.silentOpen = NO_TS;
            out.silenceClosed = true;
        }
        if (ts > d.maxTs) {
            streamChecks(d, dev, ts, vals, out);
        }
        int res = d.buf.insert(ts, row);
        d.maxTs = Math.max(d.maxTs, ts);
        if (st.timeMode) {
            fireTime(d, out);
        } else if (res != RingBuffer.MERGED) {
            d.since++;
            if (d.buf.n >= st.t && d.since >= st.slide) {
                d.since = 0;
                RingBuffer b = d.buf;
                int from = b.n - st.t;
                float[] w = new float[st.t * st.s];
                for (int i = from; i < b.n; i++) {
                    b.copyRow(i, w, (i - from) * st.s);
                }
                out.windows.add(new WindowOut(b.ts(from), b.ts(b.n - 1), w, st.t));
            }
        }
        return out;
    }

    private void fireTime(DeviceState d, Step out) {
        long w = st.windowMs;
        long sl = st.slideMs;
        RingBuffer b = d.buf;
        long wm = d.maxTs - st.outOfOrdernessMs;
        if (d.nextEnd == NO_TS) {
            d.nextEnd = (Math.floorDiv(b.ts(0), sl) + 1) * sl;
        }
        while (d.nextEnd <= wm) {
            long end = d.nextEnd;
            long start = end - w;
            int lo = b.searchLeft(start);
            int hi = b.searchLeft(end);
            if (hi > lo) {
                out.windows.add(new WindowOut(start, end, resample(b, lo, hi, start, end), hi - lo));
                d.nextEnd = end + sl;
            } else {
                long nxt = hi < b.n ? b.ts(hi) : wm + 1;
                d.nextEnd = Math.max(end + sl, (Math.floorDiv(nxt, sl) + 1) * sl);
            }
        }
        b.evictBefore(Math.min(d.nextEnd - w, wm - st.allowedLatenessMs));
    }

    /** {@code udfs.windows.resample}: bin means (float64 sums, float32 result; empty bin = NaN). */
    private float[] resample(RingBuffer b, int lo, int hi, long start, long end) {
        int s = st.s;
        int points = st.t;
        double[] sums = new double[points * s];
        double[] cnt = new double[points * s];
        for (int i = lo; i < hi; i++) {
            long t = b.ts(i);
            if (t < start || t >= end) {
                continue;
            }
            int k = (int) ((t - start) * points / (end - start));
            for (int j = 0; j < s; j++) {
                float v = b.value(i, j);
                if (!Float.isNaN(v)) {
                    sums[k * s + j] += v;
                    cnt[k * s + j] += 1.0;
                }
            }
        }
        float[] grid = new float[points * s];
        for (int k = 0; k < grid.length; k++) {
            grid[k] = (float) (sums[k] / cnt[k]);
        }
        return grid;
    }

    // ------------------------------------------------------------------ timers

    /** Event time at which the device counts as silent, or {@link DeviceState#NO_TS}. */
    public long nextTimer(DeviceState d) {
        if (d.maxTs == NO_TS || d.silentOpen != NO_TS) {
            return NO_TS;
        }
        return d.maxTs + st.silentAfterMs;
    }

    /** Open stream_silent when {@code nowMs} reached {@link #nextTimer}; the id uses the deadline. */
    public Step onTimer(DeviceState d, String dev, long nowMs) {
        Step out = step();
        openSilence(d, dev, nowMs, out);
        return out;
    }

    private void openSilence(DeviceState d, String dev, long nowMs, Step out) {
        long due = nextTimer(d);
        if (due == NO_TS || nowMs < due) {
            return;
        }
        d.silentOpen = due;
        alert(out, dev, "stream_silent", null, due, "open", nowMs, "no reading for " + st.silentAfterMs
                + " ms after " + IsoMs.format(d.maxTs), "warning", d.maxTs, NO_TS);
    }

    // ------------------------------------------------------------------ layout changes

    /**
     * A state written under another sensor layout (a restored savepoint with a new model) →
     * this layout, remapped by sensor name; the buffer keeps as many recent readings as the new
     * layout holds. Returns {@code d} itself when the layout is already this one; a remapped
     * state is marked for a full rewrite ({@link RingBuffer#relaid}).
     */
    public DeviceState adapt(DeviceState d) {
        RingBuffer ob = d.buf;
        boolean same = Arrays.equals(d.layout, st.layout) && ob.growable == st.timeMode
                && (st.timeMode || ob.cap == st.t);
        if (same) {
            return d;
        }
        String[] old = new String(d.layout, java.nio.charset.StandardCharsets.UTF_8).split("\u001f", -1);
        DeviceState p = DeviceState.fresh(st);
        p.maxTs = d.maxTs;
        p.since = d.since;
        p.nextEnd = d.nextEnd;
        p.silentOpen = d.silentOpen;
        int[] src = new int[st.s];
        for (int j = 0; j < st.s; j++) {
            src[j] = Arrays.asList(old).indexOf(st.sensors[j]);
            int i = src[j];
            if (i >= 0) {
                p.lastVal[j] = d.lastVal[i];
                p.sameRun[j] = d.sameRun[i];
                p.missRun[j] = d.missRun[i];
                p.stuckOpen[j] = d.stuckOpen[i];
                p.oorOpen[j] = d.oorOpen[i];
                p.missOpen[j] = d.missOpen[i];
            }
        }
        float[] r = new float[st.s];
        for (int k = 0; k < ob.n; k++) {
            for (int j = 0; j < st.s; j++) {
                r[j] = src[j] >= 0 ? ob.value(k, src[j]) : Float.NaN;
            }
            p.buf.insert(ob.ts(k), r);
        }
        if (st.timeMode != (d.nextEnd != NO_TS || ob.growable)) {
            p.nextEnd = NO_TS;
        }
        p.buf.relaid = true;
        return p;
    }
}
