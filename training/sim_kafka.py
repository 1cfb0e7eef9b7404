"""Encode simulator readings as DESIGN's `sensor-readings` JSON and produce them to Kafka.

Message value: ``{"device_id": "pump-07", "ts": "2026-11-23T14:00:00.120Z", "values": {...}}``
(``ts`` as epoch ms with ``ts_format="epoch_ms"``); key = device id (UTF-8). A dropped-out
sensor is ``null`` or absent. Optional malformed messages (``SimConfig.malformed_rate``) are
*extra* messages between the valid ones, so the count of valid readings does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import orjson

from training.simulator import SENSORS, SimChunk, SimConfig, Simulation, iso_ms

#: Kinds of malformed message the simulator can emit (the DLQ reason each should get).
MALFORMED_KINDS: tuple[str, ...] = (
    "bad_json",
    "not_object",
    "missing_device",
    "bad_ts",
    "non_numeric",
    "out_of_range",
    "not_utf8",
)


@dataclass(slots=True)
class Message:
    """One Kafka record: key, value, and what it stands for (``malformed`` = expected DLQ reason).

    >>> m = next(iter_messages(SimConfig(devices=1, duration_s=5, start_ms=0)))
    >>> m.key, m.value[:27], m.malformed
    (b'pump-01', b'{"device_id":"pump-01","ts"', None)
    """

    key: bytes
    value: bytes
    deliver_ms: int
    label: int
    fault_kind: str
    malformed: str | None = None


def encode_chunk(c: SimChunk, ids_b: list[bytes], ts_format: str = "iso") -> list[bytes]:
    """JSON-encode every reading of a chunk, vectorised with Arrow string kernels.

    About 100× faster than building dicts for ``orjson``; a test checks it against
    :func:`encode_reading`. Floats print in shortest round-trip form.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(c)
    if n == 0:
        return []
    ids = pa.array([b.decode() for b in ids_b]).take(pa.array(c.device))
    join = pc.binary_join_element_wise
    pieces = []
    for j, name in enumerate(SENSORS):
        col = c.values[:, j]
        nan = np.isnan(col)
        txt = join(f'"{name}":', pc.cast(pa.array(col), pa.string()), ",", "")
        if nan.any():
            absent = np.where(c.missing_key[:, j], "", f'"{name}":null,')
            txt = pc.if_else(pa.array(nan), pa.array(absent), txt)
        pieces.append(txt)
    values = pc.utf8_rtrim(join(*pieces, ""), characters=",")
    if ts_format == "iso":
        head = join('{"device_id":"', ids, '","ts":"', pa.array(iso_ms(c.ts_ms)), '","values":{', "")
    else:
        ts = pc.cast(pa.array(c.ts_ms), pa.string())
        head = join('{"device_id":"', ids, '","ts":', ts, ',"values":{', "")
    out = join(head, values, "}}", "")
    return [x.encode() for x in out.to_pylist()]


def encode_reading(device_id: str, ts: str | int, values: dict[str, float | None]) -> bytes:
    """Reference encoding of one reading (slow path; the contract in one line)."""
    return orjson.dumps({"device_id": device_id, "ts": ts, "values": values})


def _malformed(kind: str, device_id: str, ts: str) -> tuple[str, bytes]:
    good = {"device_id": device_id, "ts": ts, "values": {"temperature": 40.0}}
    if kind == "bad_json":
        raw = orjson.dumps(good)[:-7]
    elif kind == "not_object":
        raw = b"[1, 2, 3]"
    elif kind == "missing_device":
        raw = orjson.dumps({"ts": ts, "values": {"temperature": 40.0}})
    elif kind == "bad_ts":
        raw = orjson.dumps({**good, "ts": "yesterday at noon"})
    elif kind == "non_numeric":
        raw = orjson.dumps({**good, "values": {"temperature": "hot"}})
    elif kind == "out_of_range":
        raw = orjson.dumps({**good, "values": {"temperature": 1.0e6}})
    else:
        raw = b"\xff\xfe" + orjson.dumps(good)
    return kind, raw


def iter_batches(
    sim: Simulation,
    ts_format: Literal["iso", "epoch_ms"] = "iso",
    shard: tuple[int, int] = (0, 1),
) -> Iterator[tuple[SimChunk, list[bytes], list[bytes], list[tuple[int, str, bytes]]]]:
    """Per chunk: (chunk, keys, values, malformed) with malformed = [(position, reason, raw)].

    ``shard=(w, n)`` keeps only devices with ``index % n == w`` (the malformed draws are made
    for the whole chunk first, so the union of the shards is the unsharded stream).
    """
    ids_b = [d.encode() for d in sim.device_ids]
    rate = sim.config.malformed_rate
    mrng = sim.malformed_rng
    w, nw = shard
    for c in sim.chunks():
        draws = mrng.random(len(c)) if rate > 0 else None
        if nw > 1:
            sel = (c.device % nw) == w
            c = c.take(sel)
            draws = draws[sel] if draws is not None else None
        values = encode_chunk(c, ids_b, ts_format)
        keys = [ids_b[d] for d in c.device.tolist()]
        bad: list[tuple[int, str, bytes]] = []
        if draws is not None:
            pos = np.flatnonzero(draws < rate)
            ts = iso_ms(c.ts_ms[pos]).tolist()
            # the draw below `rate` is uniform, so it also picks the kind
            which = np.minimum((draws[pos] / rate * len(MALFORMED_KINDS)).astype(int), len(MALFORMED_KINDS) - 1)
            for p, t, k in zip(pos.tolist(), ts, which.tolist()):
                kind, raw = _malformed(MALFORMED_KINDS[k], sim.device_ids[int(c.device[p])], t)
                bad.append((p, kind, raw))
        yield c, keys, values, bad


def iter_messages(config: SimConfig, ts_format: Literal["iso", "epoch_ms"] = "iso") -> Iterator[Message]:
    """Every Kafka record of a run, malformed ones included, in send order (for tests)."""
    from training.simulator import kind_name

    sim = Simulation(config)
    for c, keys, values, bad in iter_batches(sim, ts_format):
        bad_at: dict[int, list[tuple[str, bytes]]] = {}
        for p, kind, raw in bad:
            bad_at.setdefault(p, []).append((kind, raw))
        for i in range(len(c)):
            yield Message(keys[i], values[i], int(c.deliver_ms[i]), int(c.label[i]), kind_name(int(c.kind[i])))
            for kind, raw in bad_at.get(i, ()):
                yield Message(keys[i], raw, int(c.deliver_ms[i]), 0, "", kind)


def produce(
    config: SimConfig,
    bootstrap: str,
    topic: str = "sensor-readings",
    *,
    ts_format: Literal["iso", "epoch_ms"] = "iso",
    realtime: bool = False,
    compression: str | None = "zstd",
    linger_ms: int = 20,
    batch_size: int = 512 * 1024,
    acks: int | str = "all",
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Produce a run to Kafka (batched, compressed, key = device id); return a summary.

    ``workers`` > 1 shards devices over that many producer processes (device ``d`` goes to
    worker ``d % workers``), so each device's readings keep their order. ``realtime`` paces
    sends by delivery time (event time + network delay) against the wall clock; otherwise
    sends as fast as possible. Raises ``RuntimeError`` naming the broker when it cannot
    connect or when sends fail.
    """
    import multiprocessing as mp

    if config.start_ms is None:  # fix "now" once: every worker must simulate the same run
        config = config.model_copy(update={"start_ms": int(time.time() * 1000)})
    opts = dict(ts_format=ts_format, realtime=realtime, compression=compression, linger_ms=linger_ms,
                batch_size=batch_size, acks=acks)
    wall0 = time.time() + (0.5 if realtime else 0.0)
    t0 = time.perf_counter()
    if workers <= 1:
        res = _produce_shard(config, bootstrap, topic, 0, 1, wall0, opts, progress)
    else:
        ctx = mp.get_context("fork")
        counters = [ctx.Value("q", 0) for _ in range(workers)]
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(config, bootstrap, topic, w, workers, wall0, opts, counters[w], results), daemon=True)
            for w in range(workers)
        ]
        for p in procs:
            p.start()
        shown = 0
        got: list[dict] = []
        while len(got) < workers:
            try:
                got.append(results.get(timeout=0.2))
            except Exception:  # queue.Empty
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
            total = sum(c.value for c in counters)
            if progress is not None and total > shown:
                progress(total - shown)
                shown = total
        for p in procs:
            p.join(timeout=30)
        total = sum(c.value for c in counters)
        if progress is not None and total > shown:
            progress(total - shown)
        errs = [g["error"] for g in got if g.get("error")]
        if errs or len(got) < workers:
            raise RuntimeError(errs[0] if errs else f"{workers - len(got)} producer worker(s) died")
        res = {k: sum(g[k] for g in got) for k in ("readings", "malformed", "cpu_s")}
    dt = time.perf_counter() - t0
    faults = len(plan_only(config))
    return {
        "readings": res["readings"],
        "malformed": res["malformed"],
        "faults": faults,
        "workers": workers,
        "compression": compression or "none",
        "seconds": round(dt, 3),
        "readings_per_s": round(res["readings"] / dt, 1) if dt > 0 else None,
        "cpu_s": round(res["cpu_s"], 3),
        "readings_per_cpu_s": round(res["readings"] / res["cpu_s"], 1) if res["cpu_s"] > 0 else None,
        "topic": topic,
        "bootstrap": bootstrap,
    }


def plan_only(config: SimConfig) -> list:
    """The fault plan of a run (cheap: no signal generation)."""
    return Simulation(config).faults


def _worker(config, bootstrap, topic, w, workers, wall0, opts, counter, results) -> None:
    def tick(n: int) -> None:
        with counter.get_lock():
            counter.value += n

    try:
        results.put(_produce_shard(config, bootstrap, topic, w, workers, wall0, opts, tick))
    except BaseException as e:  # reported to the parent, which raises
        results.put({"error": str(e)})


def _produce_shard(config, bootstrap, topic, w, workers, wall0, opts, progress) -> dict:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    from kafka.partitioner.default import murmur2
    from kafka.structs import TopicPartition

    compression = opts["compression"]
    try:
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=opts["linger_ms"],
            batch_size=opts["batch_size"],
            compression_type=None if compression in (None, "none") else compression,
            acks=opts["acks"],
            # idempotent producer: retries cannot duplicate or reorder a device's readings
            enable_idempotence=opts["acks"] in ("all", -1),
            max_in_flight_requests_per_connection=5,
            metrics_enabled=False,
            client_id=f"vigil-simulator-{w}",
            bootstrap_timeout_ms=15_000,
        )
        parts = sorted(producer.partitions_for(topic))
    except KafkaError as e:
        raise RuntimeError(f"cannot produce to Kafka at {bootstrap!r} topic {topic!r}: {e!r}") from e
    sim = Simulation(config)
    # Partition per device computed once, exactly as Kafka's default partitioner would
    # (murmur2 of the key), so the stream lands where any other producer would put it.
    dev_part = [parts[(murmur2(d.encode()) & 0x7FFFFFFF) % len(parts)] for d in sim.device_ids]
    errors: list[BaseException] = []
    errors_count = [0]

    def on_error(exc: BaseException) -> None:
        if len(errors) < 10:
            errors.append(exc)
        errors_count[0] += 1

    sent = malformed = 0
    cpu0 = time.process_time()
    start_ms = sim.start_ms
    realtime = opts["realtime"]
    append = _fast_append(producer, topic)
    tps = [TopicPartition(topic, p) for p in dev_part]
    try:
        for c, keys, values, bad in iter_batches(sim, opts["ts_format"], shard=(w, workers)):
            bad_at: dict[int, list[bytes]] = {}
            for p, _kind, raw in bad:
                bad_at.setdefault(p, []).append(raw)
            n = len(c)
            bounds = [0, n]
            if realtime:  # pace in ticks of 50 ms of delivery time
                ticks = (c.deliver_ms - start_ms) // 50
                bounds = [0, *(np.flatnonzero(np.diff(ticks)) + 1).tolist(), n]
            devs = c.device.tolist()
            for a, b in zip(bounds[:-1], bounds[1:]):
                if realtime:
                    wait = wall0 + (int(c.deliver_ms[a]) - start_ms) / 1000.0 - time.time()
                    if wait > 0:
                        time.sleep(wait)
                now_ms = int(time.time() * 1000)
                for i in range(a, b):
                    tp = tps[devs[i]]
                    append(tp, now_ms, keys[i], values[i]).add_errback(on_error)
                    if bad_at and i in bad_at:
                        for raw in bad_at[i]:
                            append(tp, now_ms, keys[i], raw).add_errback(on_error)
                            malformed += 1
                sent += b - a
                if progress is not None:
                    progress(b - a)
        producer.flush(timeout=120)
    except KafkaError as e:
        raise RuntimeError(f"Kafka send to {bootstrap!r} topic {topic!r} failed: {e!r}") from e
    finally:
        producer.close(timeout=30)
    if errors_count[0]:
        raise RuntimeError(
            f"{errors_count[0]} of {sent + malformed} sends to {bootstrap!r} topic {topic!r} failed; first: {errors[0]!r}"
        )
    # CPU of this process (all threads, incl. the producer's sender): the cost per reading
    # independent of how busy the machine is
    return {"readings": sent, "malformed": malformed, "cpu_s": time.process_time() - cpu0}


def _fast_append(producer, topic: str) -> Callable:
    """``append(tp, ts_ms, key, value) -> future``: the record path of ``KafkaProducer.send``.

    ``send()`` spends about a third of its time on checks this producer does not need per
    record (metadata wait, partitioner, serializers, size estimate, transactions), so for
    the pinned kafka-python (3.0.x) records go straight to the accumulator, waking the sender
    thread exactly as ``send()`` does. Falls back to ``send()`` when the internals differ.
    """
    acc = getattr(producer, "_accumulator", None)
    sender = getattr(producer, "_sender", None)
    if acc is None or sender is None or not hasattr(acc, "append"):
        return lambda tp, ts, key, value: producer.send(tp.topic, value=value, key=key, partition=tp.partition)
    acc_append = acc.append
    wakeup = sender.wakeup

    def append(tp, ts_ms: int, key: bytes, value: bytes):
        future, full, new_batch, _ = acc_append(tp, ts_ms, key, value, None, abort_on_new_batch=False)
        if full or new_batch:
            wakeup()
        return future

    return append
