package vigil.flink.schema;

/**
 * One validated reading on its way to the per-device operator (a Flink POJO: public fields and
 * a no-argument constructor). {@code values} holds the feature spec's sensors in spec order,
 * NaN where the sensor was null or absent; the other sensors of the message were validated and
 * are dropped. {@code raw}, {@code partition} and {@code offset} travel with it so that a reading
 * the device operator finds late reaches the DLQ as it arrived.
 */
public class Reading {

    public String deviceId;
    public long ts;
    public double[] values;
    public byte[] raw;
    public int partition;
    public long offset;

    public Reading() {}

    public Reading(String deviceId, long ts, double[] values, byte[] raw, int partition, long offset) {
        this.deviceId = deviceId;
        this.ts = ts;
        this.values = values;
        this.raw = raw;
        this.partition = partition;
        this.offset = offset;
    }
}
