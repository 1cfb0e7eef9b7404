package vigil.flink.tools;

import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The load generator of {@code vigil bench job}: simulator-shaped readings (8 sensors, healthy
 * noise, seeded) into a Kafka topic, keyed by device, at hundreds of thousands per second (a
 * Python producer manages ~17k/s here, too slow to feed the job). Two modes:
 *
 * <ul>
 *   <li>{@code --steps N}: N readings per device, 1 s apart, ending now, devices round robin
 *       (the preloaded topic of the max-rate runs);
 *   <li>{@code --rate R --seconds S}: R readings/s for S s, stamped with the wall clock at send
 *       (the latency runs), after {@code --warm W} past readings per device.
 * </ul>
 *
 * Run with the stack's Kafka jars on the classpath; prints {@code {"sent": n, "seconds": s}}.
 */
public final class BenchReadings {

    static final String[] SENSORS = {"temperature", "bearing_temp", "vibration_rms", "pressure", "current",
        "voltage", "flow", "rpm"};
    static final double[] BASE = {70.0, 55.0, 2.0, 6.0, 40.0, 400.0, 120.0, 1500.0};

    private BenchReadings() {}

    static String deviceId(int d) {
        return String.format("pump-%06d", d);
    }

    static byte[] reading(String dev, long ts, Random rng) {
        StringBuilder sb = new StringBuilder(240).append("{\"device_id\": \"").append(dev).append("\", \"ts\": ")
                .append(ts).append(", \"values\": {");
        for (int j = 0; j < SENSORS.length; j++) {
            if (j > 0) {
                sb.append(", ");
            }
            double v = BASE[j] * (1 + 0.01 * rng.nextGaussian());
            sb.append('"').append(SENSORS[j]).append("\": ").append(Math.round(v * 1e4) / 1e4);
        }
        return sb.append("}}").toString().getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = "127.0.0.1:9092";
        String topic = null;
        int devices = 1000;
        int steps = 0;
        int warm = 0;
        double rate = 0;
        double seconds = 0;
        long seed = 0;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[i + 1]; break;
                case "--topic": topic = args[i + 1]; break;
                case "--devices": devices = Integer.parseInt(args[i + 1]); break;
                case "--steps": steps = Integer.parseInt(args[i + 1]); break;
                case "--warm": warm = Integer.parseInt(args[i + 1]); break;
                case "--rate": rate = Double.parseDouble(args[i + 1]); break;
                case "--seconds": seconds = Double.parseDouble(args[i + 1]); break;
                case "--seed": seed = Long.parseLong(args[i + 1]); break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (topic == null) {
            throw new IllegalArgumentException("--topic is required");
        }
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("acks", "1");
        props.put("linger.ms", rate > 0 ? "5" : "50");
        props.put("batch.size", String.valueOf(1 << 20));
        props.put("buffer.memory", String.valueOf(256L << 20));
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        Random rng = new Random(seed);
        byte[][] keys = new byte[devices][];
        String[] ids = new String[devices];
        for (int d = 0; d < devices; d++) {
            ids[d] = deviceId(d);
            keys[d] = ids[d].getBytes(StandardCharsets.UTF_8);
        }
        long sent = 0;
        long t0 = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            long now = System.currentTimeMillis();
            int past = rate > 0 ? warm : steps;
            for (int i = 0; i < past; i++) {
                long ts = now - (long) (past - i) * 1000L;
                for (int d = 0; d < devices; d++) {
                    p.send(new ProducerRecord<>(topic, keys[d], reading(ids[d], ts, rng)));
                    sent++;
                }
            }
            p.flush();
            if (rate > 0) {
                long start = System.nanoTime();
                long total = (long) (rate * seconds);
                for (long k = 0; k < total; ) {
                    long due = (long) ((System.nanoTime() - start) / 1e9 * rate);
                    for (; k < Math.min(due, total); k++) {
                        int d = (int) (k % devices);
                        p.send(new ProducerRecord<>(topic, keys[d], reading(ids[d], System.currentTimeMillis(), rng)));
                        sent++;
                    }
                    Thread.sleep(2);
                }
                p.flush();
            }
        }
        System.out.printf("{\"sent\": %d, \"seconds\": %.3f}%n", sent, (System.nanoTime() - t0) / 1e9);
    }
}
