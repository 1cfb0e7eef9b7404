package vigil.flink.alerts;

/** {@code udfs.alerts.AlertState}: one device's alert state (kept through {@link AlertStateSerializer}). */
public final class AlertState {

    public static final long NO_TS = -(1L << 62);

    int above;
    int below;
    long runStart = NO_TS;
    long openEnd = NO_TS;
    long lastClose = NO_TS;
    double peak;
    double openScore;
    double openThreshold;
    String openId = "";
    String severity = "";
    String modelName = "";
    String modelVersion = "";
    double[] hist = new double[0];
    long histN;

    AlertState copy() {
        AlertState a = new AlertState();
        a.above = above;
        a.below = below;
        a.runStart = runStart;
        a.openEnd = openEnd;
        a.lastClose = lastClose;
        a.peak = peak;
        a.openScore = openScore;
        a.openThreshold = openThreshold;
        a.openId = openId;
        a.severity = severity;
        a.modelName = modelName;
        a.modelVersion = modelVersion;
        a.hist = hist.clone();
        a.histN = histN;
        return a;
    }

    public boolean isOpen() {
        return openEnd != NO_TS;
    }
}
