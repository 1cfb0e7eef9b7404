"""Step-0 design measurements of the anomaly job (see docs/job.md). Usage (venv python):

    PYTHONPATH=$(.venv/bin/python -c "import sysconfig;print(sysconfig.get_paths()[\"purelib\"])") \
    N_PER=50 .venv/bin/python docs/job_design_bench.py thread|process pandas|inop|none numpy|pickle map

Builds /tmp/jobeng/iforest.onnx (100-tree Isolation Forest on 48 features, skl2onnx) when
missing. Writes one JSON line per run to /tmp/jobeng/results.jsonl.
"""
import json, os, sys, time, pickle
import numpy as np
from pyflink.common import Types, Configuration, Row
from pyflink.datastream import StreamExecutionEnvironment, KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment, DataTypes, Schema
from pyflink.table.udf import udf

MODE = sys.argv[1]          # process | thread
SCORING = sys.argv[2]       # pandas | inop | none
STATE = sys.argv[3]         # numpy | pickle
PARSE = sys.argv[4]         # map | kpf
N_DEV = 1000; N_PER = int(os.environ.get("N_PER", "200")); W = 60; SLIDE = 10; S = 8
OUT = f"/tmp/jobeng/res-{MODE}-{SCORING}-{STATE}-{PARSE}.json"
SENS = ["temperature","bearing_temp","vibration_rms","pressure","current","voltage","flow","rpm"]

def gen():
    rng = np.random.default_rng(1)
    vals = rng.normal(size=(N_PER, N_DEV, S)).round(3)
    out = []
    t0 = 1_790_000_000_000
    for i in range(N_PER):
        for d in range(N_DEV):
            out.append(json.dumps({"device_id": f"dev-{d:04d}", "ts": t0 + i * 1000,
                                   "values": dict(zip(SENS, vals[i, d].tolist()))}))
    return out

def parse(raw):
    o = json.loads(raw)
    v = o["values"]
    return o["device_id"], int(o["ts"]), [v.get(s) for s in SENS]

def feats(win):  # win [B, W, S]
    x = np.arange(W, dtype=np.float32); x = x - x.mean()
    mean = win.mean(1); std = win.std(1); mn = win.min(1); mx = win.max(1); last = win[:, -1]
    slope = (win * x[None, :, None]).sum(1) / (x ** 2).sum()
    return np.concatenate([mean, std, mn, mx, last, slope], 1).astype(np.float32)

class Proc(KeyedProcessFunction):
    def open(self, ctx: RuntimeContext):
        self.st = ctx.get_state(ValueStateDescriptor("dev", Types.PICKLED_BYTE_ARRAY() if STATE in ("pickle","numpy") else Types.PRIMITIVE_ARRAY(Types.BYTE())))
        self.n = 0; self.t0 = None; self.buf = []; self.sess = None; self.scored = 0
        if SCORING == "inop":
            import onnxruntime as ort
            so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
            self.sess = ort.InferenceSession("/tmp/jobeng/iforest.onnx", so)
    def process_element(self, value, ctx):
        if self.t0 is None: self.t0 = time.time()
        self.n += 1; self.t1 = time.time()
        if PARSE == "kpf":
            dev, ts, vals = parse(value[1])
        else:
            dev, ts, vals = value
        raw = self.st.value()
        if STATE == "pickle":
            ring = raw if raw is not None else []
            ring.append(vals); ring = ring[-W:]; cnt = None
            self.st.update(ring)
            ready = len(ring) == W and (ts // 1000) % SLIDE == 0
            if ready: win = np.asarray(ring, dtype=np.float32)
        else:
            if raw is None:
                arr = np.zeros(W * S + 2, dtype=np.float32)
            else:
                arr = np.frombuffer(raw, dtype=np.float32).copy()
            ring = arr[:W * S].reshape(W, S); ring[:-1] = ring[1:]; ring[-1] = [np.nan if v is None else v for v in vals]
            arr[W * S] += 1
            self.st.update(arr.tobytes())
            ready = arr[W * S] >= W and (ts // 1000) % SLIDE == 0
            if ready: win = ring.copy()
        if ready:
            if SCORING == "pandas":
                yield Row(dev, ts, win.astype(np.float32).tobytes())
            elif SCORING == "inop":
                self.buf.append((dev, ts, win))
                if len(self.buf) >= 256:
                    yield from self.flush()
            else:
                yield Row(dev, ts, b"")
    def flush(self):
        w = np.stack([b[2] for b in self.buf]).astype(np.float32)
        sc = self.sess.run(None, {"X": feats(w)})[1].ravel()
        out = [Row(b[0], b[1], float(s)) for b, s in zip(self.buf, sc)]
        self.scored += len(out); self.buf = []
        return out
    def close(self):
        json.dump({"n": self.n, "secs": self.t1 - self.t0, "rate": self.n / (self.t1 - self.t0)}, open(OUT, "w"))

class Alert(KeyedProcessFunction):
    def open(self, ctx):
        self.st = ctx.get_state(ValueStateDescriptor("a", Types.LONG()))
    def process_element(self, value, ctx):
        c = self.st.value() or 0
        self.st.update(c + 1)
        if value[2] > 10: yield value  # nothing passes

def _ensure_model():
    if os.path.exists("/tmp/jobeng/iforest.onnx"):
        return
    from sklearn.ensemble import IsolationForest
    from skl2onnx import to_onnx
    os.makedirs("/tmp/jobeng", exist_ok=True)
    X = np.random.default_rng(0).normal(size=(2000, 48)).astype(np.float32)
    m = IsolationForest(n_estimators=100, random_state=0).fit(X)
    onx = to_onnx(m, X[:1], target_opset={"": 15, "ai.onnx.ml": 3})
    open("/tmp/jobeng/iforest.onnx", "wb").write(onx.SerializeToString())


def main():
    _ensure_model()
    cfg = Configuration()
    cfg.set_string("python.execution-mode", MODE)
    cfg.set_string("python.executable", sys.executable)
    cfg.set_string("python.client.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(cfg)
    env.set_parallelism(1)
    data = gen()
    src = env.from_collection(data, type_info=Types.STRING())
    if PARSE == "map":
        parsed = src.map(parse, output_type=Types.TUPLE([Types.STRING(), Types.LONG(), Types.PICKLED_BYTE_ARRAY()]))
        keyed = parsed.key_by(lambda r: r[0], key_type=Types.STRING())
    else:
        # key taken from the Kafka record key (simulated: device id prefix slice), parse inside the KPF
        parsed = src.map(lambda s: (s[15:23], s), output_type=Types.TUPLE([Types.STRING(), Types.STRING()]))
        keyed = parsed.key_by(lambda r: r[0], key_type=Types.STRING())
    if SCORING == "pandas":
        wins = keyed.process(Proc(), output_type=Types.ROW_NAMED(["device_id","ts","win"], [Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())]))
        t_env = StreamTableEnvironment.create(env)
        import onnxruntime  # noqa
        @udf(result_type=DataTypes.DOUBLE(), func_type="pandas")
        def score(win):
            import onnxruntime as ort, pandas as pd
            g = globals()
            if "_sess" not in g:
                so = ort.SessionOptions(); so.intra_op_num_threads = 1
                g["_sess"] = ort.InferenceSession("/tmp/jobeng/iforest.onnx", so)
            w = np.frombuffer(b"".join(win.tolist()), dtype=np.float32).reshape(len(win), W, S)
            return pd.Series(g["_sess"].run(None, {"X": feats(w)})[1].ravel().astype("float64"))
        tbl = t_env.from_data_stream(wins)
        res = tbl.select(tbl.device_id, tbl.ts, score(tbl.win).alias("score"))
        out = t_env.to_data_stream(res)
    else:
        out = keyed.process(Proc(), output_type=Types.ROW_NAMED(["device_id","ts","score"], [Types.STRING(), Types.LONG(), Types.PICKLED_BYTE_ARRAY() if SCORING=="none" else Types.DOUBLE()]))
    if SCORING != "none":
        out = out.key_by(lambda r: r[0], key_type=Types.STRING()).process(Alert(), output_type=Types.PICKLED_BYTE_ARRAY())
    out.print()
    t = time.time()
    env.execute("design")
    r = json.load(open(OUT)); r["wall"] = time.time() - t
    r.update(mode=MODE, scoring=SCORING, state=STATE, parse=PARSE)
    print("RESULT", json.dumps(r))
    with open("/tmp/jobeng/results.jsonl", "a") as f: f.write(json.dumps(r) + "\n")

main()
