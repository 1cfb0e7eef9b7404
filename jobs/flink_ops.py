"""PyFlink function classes of the anomaly job: thin wrappers around the pure ``udfs/`` logic.

Every class here only moves data between Flink and ``udfs`` (parse → DeviceProcessor →
Scorer → AlertPolicy) and counts what happens in Flink metric groups (exported by the
Prometheus reporter as ``flink_taskmanager_job_task_operator_vigil_*``). Heavy imports
(onnxruntime, udfs) happen in ``open()`` so the classes pickle small.

Record shapes between the operators (PyFlink ``Row``; see the ``*_TYPE`` constants):

* source row  ``(raw BYTES, topic, partition, offset)`` — from the SQL Kafka table, whose
  metadata columns are the only way PyFlink exposes partition/offset to Python.
* parsed      ``((device_id, reading), ts_ms)`` — parse's output; the JVM takes the event time
  from field 1 and the key from ``device_id`` (:func:`keyed_readings`)
* reading     ``(device_id, ts_ms, values(pickled dict), partition, offset)``
* window      ``(device_id, start_ms, end_ms, window float32 bytes [T*S], imputed_fraction)``
* scored      ``(device_id, start_ms, end_ms, imputed, extra)``; ``extra`` = JSON string
  ``{"s": score, "top": [...], "drift": [...]?}`` from the pandas UDF
* keyed out   ``(key STRING, payload BYTES)`` — one Kafka record (key = device id or NULL)
"""

from __future__ import annotations

import json
import time
from typing import Any

from pyflink.common import Row, Types
from pyflink.common.time import Time
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor
from pyflink.table.udf import FunctionContext, ScalarFunction

from udfs import metrics_names as M

# ------------------------------------------------------------------ record types
KEYED_OUT_TYPE = Types.ROW_NAMED(["k", "payload"], [Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())])
READING_TYPE = Types.ROW_NAMED(
    ["device_id", "ts_ms", "vals", "part", "off"],
    [Types.STRING(), Types.LONG(), Types.PICKLED_BYTE_ARRAY(), Types.INT(), Types.LONG()],
)
WINDOW_TYPE = Types.ROW_NAMED(
    ["device_id", "start_ms", "end_ms", "win", "imputed"],
    [Types.STRING(), Types.LONG(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.DOUBLE()],
)
#: the scoring UDF's output rows, keyed again by device for the alert policy
SCORED_TYPE = Types.ROW_NAMED(
    ["device_id", "start_ms", "end_ms", "imputed", "extra"],
    [Types.STRING(), Types.LONG(), Types.LONG(), Types.DOUBLE(), Types.STRING()],
)
#: parse's main output: ``((device_id, reading), ts_ms)`` -- already in the shape PyFlink's
#: keyed operators take (key first) and carrying the event time for the JVM's watermark
#: assigner, so no Python operator runs between parse and the shuffle (see :func:`keyed_readings`)
PARSED_TYPE = Types.TUPLE([Types.ROW([Types.STRING(), READING_TYPE]), Types.LONG()])
ARCHIVE_TYPE = Types.ROW_NAMED(
    ["device_id", "ts_ms", "vals_json"], [Types.STRING(), Types.LONG(), Types.STRING()]
)

DLQ_TAG = OutputTag("dlq", KEYED_OUT_TYPE)
ALERT_TAG = OutputTag("stream-alerts", KEYED_OUT_TYPE)
ARCHIVE_TAG = OutputTag("archive", ARCHIVE_TYPE)
SCORES_TAG = OutputTag("window-scores", KEYED_OUT_TYPE)
DRIFT_TAG = OutputTag("model-drift", KEYED_OUT_TYPE)


class CounterGauge:
    """A settable value exported through a Flink *counter* (``inc``/``dec`` by the change).

    Why not ``metric_group.gauge``: in thread mode a Python gauge is a callback the JVM's
    metric reporter calls into the embedded interpreter; read after the job's interpreter is
    gone it crashed the TaskManager (SIGSEGV in ``take_gil``, PyFlink 2.0.0). A counter lives
    in the JVM and Python only pushes changes. The Prometheus reporter exports counters as
    gauges, so dashboards see the same series.

    >>> class C:
    ...     n = 0
    ...     def inc(self, d): self.n += d
    ...     def dec(self, d): self.n -= d
    >>> c = C(); g = CounterGauge(c); g.set(7); g.set(3); g.set(12); c.n
    12
    """

    def __init__(self, counter: Any) -> None:
        self._c, self._v = counter, 0

    def set(self, value: int) -> None:
        """Make the exported value ``value``."""
        d = int(value) - self._v
        if d > 0:
            self._c.inc(d)
        elif d < 0:
            self._c.dec(-d)
        self._v = int(value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _config(cfg_json: str) -> Any:
    from udfs.config import JobConfig

    return JobConfig(**json.loads(cfg_json))


def check_bundle(bundle_path: str, cfg_json: str) -> Any:
    """Load the bundle and prove this build can serve it: feature spec computable, the window
    config compatible with the model, the ONNX graph runs on a zero window. Returns the Scorer.

    Raises ``udfs.features.UnsupportedFeatureSpec`` / ``ValueError`` / ``BundleError`` with a
    message naming the problem. Used client-side before submission and in every ``open()``.
    """
    import numpy as np

    from udfs.device_state import Context
    from udfs.scorer import Scorer

    scorer = Scorer(bundle_path, threads=1)
    spec = scorer.spec
    spec.check_supported()
    Context(_config(cfg_json), spec)  # window/slide/time-mode compatibility
    probe = scorer.score_windows(np.zeros((1, spec.window, len(spec.sensors)), np.float32))
    if probe.shape != (1,):
        raise ValueError(f"model output has shape {probe.shape} for one window, expected (1,)")
    return scorer


def state_ttl(ttl_ms: int) -> StateTtlConfig:
    """TTL (processing time, refreshed on write) for per-device state: a device silent for
    ``ttl_ms`` is forgotten. Expired entries are dropped by RocksDB compaction and in full
    snapshots.

    Why not the builder's defaults: in thread mode PyFlink 2.0 builds the default background
    cleanup with ``Duration.of_days(30)`` through the py4j gateway, which does not exist inside
    the TaskManager (FileNotFoundError launching it). The compaction-filter strategy is set
    explicitly; its periodic time is never sent to Java by PyFlink, so a gateway-free
    placeholder is enough.

    Why ``ReturnExpiredIfNotCleanedUp``: with ``NeverReturnExpired`` PyFlink disables its
    Python-side state cache (for every state of the operator) and commits each update with a
    synchronous round trip to the JVM -- measured at ~2 ms per reading. An expired-but-not-yet-
    compacted device state being read back is harmless: it only means the device is
    remembered a little longer.
    """
    from pyflink.common.time import Duration

    return (StateTtlConfig.new_builder(Time.milliseconds(ttl_ms))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
            .disable_cleanup_in_background()
            .cleanup_full_snapshot()
            .cleanup_in_rocksdb_compact_filter(1000, Duration(None))
            .build())

def _commit_pipelined(backend: Any) -> None:
    """``RemoteKeyedStateBackend.commit`` without a round trip per key: every dirty key's
    clear/append request is sent first, then the futures are awaited. PyFlink 2.0 waits for
    each key's write before sending the next (``SynchronousBagRuntimeState.commit``), so a
    bundle touching 1,000 devices stalled ~1 s in 1,000 sequential gRPC round trips -- the
    job's throughput ceiling. Safe because all state requests travel in order on one gRPC
    stream (Beam itself awaits only the last of clear + append), and the bundle is not
    finished before every future has completed."""
    from apache_beam.runners.worker.bundle_processor import SynchronousBagRuntimeState

    pending: list[Any] = []

    def send(st: Any) -> None:
        if st is None:
            return
        if isinstance(st, SynchronousBagRuntimeState):
            if st._cleared:
                pending.append(st._state_handler.clear(st._state_key))
            if st._added_elements:
                pending.append(st._state_handler.extend(
                    st._state_key, st._value_coder.get_impl(), st._added_elements))
            st._cleared = False
            st._added_elements = []
        else:  # other internal states (map state) keep their own commit
            backend.commit_internal_state(st)

    for st in backend._internal_state_cache:
        send(st)
    for name, state in backend._all_states.items():
        if (name, backend._encoded_current_key, backend._encode_namespace(state.namespace)) \
                not in backend._internal_state_cache:
            send(state._internal_state)
    for fut in pending:
        fut.get()


def pipeline_state_commits() -> None:
    """Install :func:`_commit_pipelined` in this Python worker (process mode; idempotent).
    Checked against the pinned PyFlink: a different version keeps its own commit."""
    from pyflink.fn_execution import state_impl
    from pyflink.version import __version__

    if __version__ != "2.0.0" or not hasattr(state_impl, "RemoteKeyedStateBackend"):
        return
    state_impl.RemoteKeyedStateBackend.commit = _commit_pipelined


def bytes_state(runtime_context: RuntimeContext, name: str, ttl_ms: int):  # noqa: ANN201
    """Per-key ValueState holding one serialised udfs object (PICKLED_BYTE_ARRAY: coded as
    one blob, 27 % cheaper than PRIMITIVE_ARRAY(BYTE) here), with TTL when ``ttl_ms`` > 0.
    Also installs :func:`pipeline_state_commits` in the worker."""
    pipeline_state_commits()
    desc = ValueStateDescriptor(name, Types.PICKLED_BYTE_ARRAY())
    if ttl_ms > 0:
        desc.enable_time_to_live(state_ttl(ttl_ms))
    return runtime_context.get_state(desc)



# ------------------------------------------------------------------ 1. parse / validate
class ParseValidate(ProcessFunction):
    """Raw Kafka record → validated reading; invalid → DLQ side output (reason, raw, topic,
    partition, offset), counted per reason. Never raises on data: bad input cannot fail the job.
    Optionally copies validated readings to the archive side output."""

    def __init__(self, cfg_json: str, archive: bool = False) -> None:
        self.cfg_json = cfg_json
        self.archive = archive

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.schema import InvalidReading, dlq_record, parse_reading

        cfg = _config(self.cfg_json)
        self._parse, self._dlq_record, self._invalid = parse_reading, dlq_record, InvalidReading
        self._limits = cfg.sensor_limits()
        self._max_bytes = cfg.max_message_bytes
        self._default_topic = cfg.topic_readings
        self._mg = runtime_context.get_metrics_group()
        self._in = self._mg.counter("vigil_readings_in")
        self._valid = self._mg.counter("vigil_readings_valid")
        self._dlq_total = self._mg.counter("vigil_dlq")
        self._dlq_by: dict[str, Any] = {}

    def _count_dlq(self, reason: str) -> None:
        c = self._dlq_by.get(reason)
        if c is None:
            c = self._dlq_by[reason] = self._mg.add_group("reason", reason).counter("vigil_dlq_by_reason")
        c.inc()
        self._dlq_total.inc()

    def process_element(self, value: Row, ctx: ProcessFunction.Context):  # noqa: ANN201
        raw, topic, part, off = value[0], value[1], value[2], value[3]
        self._in.inc()
        if raw is None:  # tombstone: no payload at all
            raw = b""
        try:
            r = self._parse(raw, self._limits, max_bytes=self._max_bytes)
        except self._invalid as e:
            self._count_dlq(e.reason)
            rec = self._dlq_record(e.reason, e.detail, bytes(raw), topic or self._default_topic, part, off)
            yield DLQ_TAG, Row(None, json.dumps(rec).encode())
            return
        except Exception as e:  # noqa: BLE001 - a parser bug must not kill the job; DLQ it visibly
            self._count_dlq("bad_json")
            rec = self._dlq_record("bad_json", f"parser error {type(e).__name__}: {e}", bytes(raw),
                                   topic or self._default_topic, part, off)
            yield DLQ_TAG, Row(None, json.dumps(rec).encode())
            return
        self._valid.inc()
        yield Row(r.device_id, Row(r.device_id, r.ts_ms, r.values, part, off)), r.ts_ms
        if self.archive:
            yield ARCHIVE_TAG, Row(r.device_id, r.ts_ms, json.dumps(r.values))


def keyed_readings(parsed: Any, strategy: Any, uid: str) -> Any:
    """Event time and keying of parse's output (:data:`PARSED_TYPE`) entirely in the JVM.

    PyFlink's ``assign_timestamps_and_watermarks`` with a Python ``TimestampAssigner`` and
    ``key_by`` with a Python selector each add a Python operator, and the JVM watermark
    operator between them breaks the Python chain: every reading crossed into Python three
    times. Here parse already emits ``((key, reading), ts)``, so the JVM assigns timestamps and
    watermarks (``strategy``: bounded out-of-orderness, idleness) from field 1, drops it, and
    keys by field 0 (:func:`_key_by_field0`: same records and key type as a Python ``key_by``,
    so keyed state and savepoints are unchanged). ``uid`` names the watermark step. Returns
    the KeyedStream."""
    from pyflink.datastream.data_stream import DataStream
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    fp = jvm.org.apache.flink.streaming.api.functions.python
    keyed_type = Types.ROW([Types.STRING(), READING_TYPE])
    j_timed = (parsed._j_data_stream
               .assignTimestampsAndWatermarks(
                   strategy._j_watermark_strategy.withTimestampAssigner(fp.eventtime.CustomTimestampAssigner()))
               .map(fp.eventtime.RemoveTimestampMapFunction(), keyed_type.get_java_type_info()))
    timed = DataStream(j_timed).uid(uid).name("event-time")
    return _key_by_field0(j_timed, READING_TYPE, timed)


def _key_by_field0(j_stream: Any, value_type: Any, upstream: Any) -> Any:
    """KeyedStream over a Java stream of ``Row(key STRING, value)``, keyed by field 0 with
    PyFlink's own ``KeyByKeySelector``: the records and the key type (``Row(STRING)``) are
    exactly those of ``key_by(..., key_type=Types.STRING())``, so keyed state and savepoints
    match a Python-keyed stream. ``value_type``: what the keyed Python function receives."""
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway

    fp = get_gateway().jvm.org.apache.flink.streaming.api.functions.python
    j_keyed = j_stream.keyBy(fp.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, upstream)


def keyed_scores(scored: Any) -> Any:
    """Key the scoring UDF's output (``to_data_stream`` rows, :data:`SCORED_TYPE`) by device in
    the JVM (``vigil.flink.KeyByFirstField``) -- a Python ``key_by`` here would add a Python
    operator, with its own bundles, per scored window. Adds the project's JVM jar
    (``deploy.artifacts.jvm_ops_jar``) to the job's ``pipeline.jars``: on the client for
    planning, shipped with the job graph to the cluster."""
    from pyflink.java_gateway import get_gateway

    from deploy.artifacts import jvm_ops_jar

    scored.get_execution_environment().add_jars(jvm_ops_jar().as_uri())
    jvm = get_gateway().jvm
    j_keyed_rows = scored._j_data_stream.map(
        jvm.vigil.flink.KeyByFirstField(), Types.ROW([Types.STRING(), SCORED_TYPE]).get_java_type_info())
    j_keyed_rows.uid("vigil-key-scores").name("key-by-device")
    return _key_by_field0(j_keyed_rows, SCORED_TYPE, scored)


# ------------------------------------------------------------------ 2. per-device state
class DeviceFunction(KeyedProcessFunction):
    """Keyed by device: ``udfs.device_state.DeviceProcessor`` kept as compact bytes in ONE
    ValueState (with TTL for long-silent devices). Emits imputed windows (main output),
    stream-level alerts (``ALERT_TAG``) and late readings (``DLQ_TAG``, reason ``late``);
    event-time timers raise ``stream_silent``.

    Timers: one pending timer per device, registered at its first reading and re-armed when it
    fires early (the deadline moved because readings kept coming) or when a silence closes —
    registering on every reading would cost a timer-state write per record.
    """

    def __init__(self, cfg_json: str, bundle_path: str) -> None:
        self.cfg_json = cfg_json
        self.bundle_path = bundle_path

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.bundle import load_bundle
        from udfs.device_state import Context, DeviceProcessor
        from udfs.schema import Reading, dlq_record

        cfg = _config(self.cfg_json)
        spec = load_bundle(self.bundle_path).manifest.feature_spec
        spec.check_supported()
        self._ctx = Context(cfg, spec)
        self._DP, self._Reading, self._dlq_record = DeviceProcessor, Reading, dlq_record
        self._topic = cfg.topic_readings
        self._state = bytes_state(runtime_context, "vigil-device", cfg.state_ttl_ms)
        mg = runtime_context.get_metrics_group()
        self._mg = mg
        self._late = mg.counter("vigil_late")
        self._imputed = mg.counter("vigil_imputed_values")
        self._windows = mg.counter("vigil_windows_ready")
        self._alerts_by: dict[str, Any] = {}
        self._dlq = mg.counter("vigil_dlq")
        self._dlq_late = mg.add_group("reason", "late").counter("vigil_dlq_by_reason")
        self._cells = self._ctx.T * self._ctx.S

    def _count_alert(self, kind: str) -> None:
        c = self._alerts_by.get(kind)
        if c is None:
            c = self._alerts_by[kind] = self._mg.add_group("kind", kind).counter("vigil_alerts")
        c.inc()

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        dev, ts = value[0], value[1]
        raw = self._state.value()
        first = raw is None
        p = self._ctx.new(dev) if first else self._DP.from_bytes(self._ctx, raw)
        step = p.on_reading(self._Reading(dev, ts, value[2]), now_ms=_now_ms())
        if step.late:
            self._late.inc()
            self._dlq.inc()
            self._dlq_late.inc()
            body = json.dumps({"device_id": dev, "ts": ts, "values": value[2]}).encode()
            rec = self._dlq_record("late", step.detail, body, self._topic, value[3], value[4])
            yield DLQ_TAG, Row(dev, json.dumps(rec).encode())
            if first:  # nothing to keep
                return
        self._state.update(p.to_bytes())
        rearm = first or any(a.kind == "stream_silent" and a.sensor is None and a.status == "closed"
                             for a in step.alerts)
        if rearm:
            nt = p.next_timer_ms()
            if nt is not None:
                ctx.timer_service().register_event_time_timer(nt)
        for a in step.alerts:
            self._count_alert(a.kind)
            yield ALERT_TAG, Row(dev, a.to_json())
        for w in step.windows:
            self._windows.inc()
            if w.imputed_fraction > 0:
                self._imputed.inc(int(round(w.imputed_fraction * self._cells)))
            yield Row(dev, w.start_ms, w.end_ms, w.values.astype("float32").tobytes(), float(w.imputed_fraction))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # noqa: ANN201
        raw = self._state.value()
        if raw is None:  # state expired (TTL) or never written
            return
        p = self._DP.from_bytes(self._ctx, raw)
        alerts = p.on_timer(timestamp)
        if alerts:
            self._state.update(p.to_bytes())
            for a in alerts:
                self._count_alert(a.kind)
                yield ALERT_TAG, Row(ctx.get_current_key(), a.to_json())
            return
        nt = p.next_timer_ms()
        if nt is not None and nt > timestamp:  # readings moved the deadline: re-arm once
            ctx.timer_service().register_event_time_timer(nt)


# ------------------------------------------------------------------ 3. batched scoring
class ScoreWindows(ScalarFunction):
    """Vectorized (pandas) UDF: a batch of windows → one ``InferenceSession.run`` per batch.

    The Scorer (one onnxruntime session) is created ONCE per worker in ``open()``. Returns a
    JSON string per row: ``{"s": oriented score, "top": [...]}``; top contributing features
    are computed only for rows near or above the bundle's threshold (explanations are for
    alerts). Every ``drift_every_s`` seconds one row also carries the per-feature PSI/KS
    report of the windows scored since the last one (``"drift": [...]``) for ``model-drift``.
    """

    def __init__(self, bundle_path: str, cfg_json: str, drift_every_s: float = 60.0) -> None:
        self.bundle_path = bundle_path
        self.cfg_json = cfg_json
        self.drift_every_s = drift_every_s

    def open(self, function_context: FunctionContext) -> None:
        import numpy as np

        from udfs.drift import DriftMonitor

        self._np = np
        cfg = _config(self.cfg_json)
        self._scorer = check_bundle(self.bundle_path, self.cfg_json)
        m = self._scorer.bundle.manifest
        self._T, self._S = m.feature_spec.window, len(m.feature_spec.sensors)
        self._top_k = cfg.top_k
        thr = m.thresholds
        self._explain_from = None  # explain every row unless a threshold bounds the interesting ones
        if cfg.threshold_mode != "likelihood" and thr is not None:
            vals = [v for v in [getattr(thr, "global_", None), getattr(thr, "global", None), cfg.threshold]
                    if isinstance(v, (int, float))]
            per = getattr(thr, "per_device", None) or {}
            vals += [float(v) for v in per.values()]
            if vals:
                t = min(vals)
                self._explain_from = t - 0.1 * abs(t)
        self._drift = DriftMonitor(m.feature_spec.names(), self._scorer.bundle.reference_stats or {})
        self._model = (m.name, m.version)
        self._last_drift = time.monotonic()
        mg = function_context.get_metric_group()
        self._scored = mg.counter("vigil_windows_scored")
        self._batches = mg.counter("vigil_score_batches")
        self._score_dist = mg.distribution("vigil_score")
        self._last_score = 0.0
        mg.gauge("vigil_last_score_milli", lambda: int(self._last_score * 1000))
        # The dashboards draw the score against the bundle's global threshold (oriented scale)
        # and count the features whose last drift report crossed the PSI/KS limits.
        threshold = thr.global_ if thr is not None and thr.global_ is not None else cfg.threshold
        self._threshold_milli = int(threshold * 1000) if isinstance(threshold, (int, float)) else 0
        mg.gauge(M.THRESHOLD_MILLI, lambda: self._threshold_milli)
        self._drifted = 0
        mg.gauge(M.DRIFTED_FEATURES, lambda: self._drifted)

    def eval(self, win, dev):  # noqa: ANN001, ANN201 - pandas Series in, Series out
        import orjson
        import pandas as pd

        np = self._np
        n = len(win)
        w = np.frombuffer(b"".join(win.tolist()), dtype=np.float32).reshape(n, self._T, self._S)
        scores, feats = self._scorer.score_windows(w, return_features=True)
        self._scored.inc(n)
        self._batches.inc()
        if n:
            self._last_score = float(scores[-1])
            for s in scores[:: max(1, n // 32)]:  # a sample keeps the distribution cheap
                if np.isfinite(s):
                    self._score_dist.update(int(s * 1000))
        if self._drift.names:
            self._drift.update(feats)
        if self._top_k > 0:
            want = np.ones(n, bool) if self._explain_from is None else scores >= self._explain_from
            idx = np.flatnonzero(want)
            tops = self._scorer.explain(feats[idx], self._top_k) if len(idx) else []
        else:
            idx, tops = np.zeros(0, int), []
        top_of = dict(zip(idx.tolist(), tops))
        out = [orjson.dumps({"s": float(scores[i]), "top": top_of.get(i, [])}).decode() for i in range(n)]
        if n and time.monotonic() - self._last_drift >= self.drift_every_s and self._drift.names:
            rep = self._drift.report(*self._model)
            self._drifted = sum(r["drifted"] for r in rep)
            self._drift.reset()
            self._last_drift = time.monotonic()
            d = json.loads(out[0])
            d["drift"] = rep
            out[0] = json.dumps(d)
        return pd.Series(out, dtype=object)


# ------------------------------------------------------------------ 4. alert policy
class AlertFunction(KeyedProcessFunction):
    """Keyed by device again: ``udfs.alerts.AlertPolicy`` with ``AlertState`` bytes in keyed
    state → open/close anomaly alerts (main output), optional per-window scores and the
    drift reports riding on scored rows (side outputs). Records event-to-alert latency."""

    def __init__(self, cfg_json: str, bundle_path: str) -> None:
        self.cfg_json = cfg_json
        self.bundle_path = bundle_path

    def open(self, runtime_context: RuntimeContext) -> None:
        from udfs.alerts import AlertPolicy, AlertState
        from udfs.bundle import load_bundle

        cfg = _config(self.cfg_json)
        m = load_bundle(self.bundle_path).manifest
        self._policy = AlertPolicy(cfg, m.thresholds)
        self._AS = AlertState
        self._model = {"name": m.name, "version": m.version}
        self._emit_scores = cfg.emit_scores
        self._state = bytes_state(runtime_context, "vigil-alert", cfg.state_ttl_ms)
        mg = runtime_context.get_metrics_group()
        self._alerts = mg.add_group("kind", "anomaly").counter("vigil_alerts")
        self._latency = mg.distribution("vigil_event_to_alert_ms")
        self._last_latency = CounterGauge(mg.counter(M.LAST_EVENT_TO_ALERT_MS))
        ver = "".join(ch for ch in m.version if ch.isdigit())[:15]
        # set on the first record, not here: in process mode a metric update made in open()
        # happens outside any bundle and never reaches the JVM
        self._version = CounterGauge(mg.counter(M.MODEL_VERSION_NUM))
        self._version_num = int(ver or 0)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        dev, start, end, imputed, extra = value[0], value[1], value[2], value[3], value[4]
        if self._version_num:
            self._version.set(self._version_num)
            self._version_num = 0
        x = json.loads(extra)
        raw = self._state.value()
        st = self._policy.new_state() if raw is None else self._AS.from_bytes(raw)
        now = _now_ms()
        d = self._policy.on_score(st, dev, start, end, x["s"], self._model, x.get("top") or [],
                                  imputed, now_ms=now)
        self._state.update(st.to_bytes())
        for a in d.alerts:
            self._alerts.inc()
            lat = max(0, now - end)
            self._last_latency.set(lat)
            self._latency.update(lat)
            yield Row(dev, a.to_json())
        if self._emit_scores:
            yield SCORES_TAG, Row(dev, json.dumps({
                "device_id": dev, "window_start_ms": start, "window_end_ms": end, "score": d.score,
                "threshold": d.threshold, "open": d.is_open, "imputed_fraction": imputed,
                "model": self._model}).encode())
        for rec in x.get("drift") or []:
            rec["at_ms"] = now
            yield DRIFT_TAG, Row(rec["feature"], json.dumps(rec).encode())
