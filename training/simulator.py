"""Deterministic multi-device simulator: pumps/motors with 8 correlated sensors and labelled faults.

Physics, per device (parameters drawn once per device from the seed):

* a **load regime** (idle / normal / peak, semi-Markov switching, more peak by day and more
  idle by night) sets a target speed fraction ``s*``; a variable-frequency drive ramps the
  speed ``s`` towards it (first-order lag, ~20 s);
* pump affinity laws: ``flow ∝ s``, ``pressure ∝ s²``, shaft power ``∝ s³`` so
  ``current = I_rated·(0.25 + 0.75·s³)`` (0.25 = magnetising current), ``rpm = n_nominal·s``;
* ambient temperature follows a daily sine; the motor ``temperature`` = ambient + a rise
  ``∝ (I/I_rated)²`` through a ~15 min thermal lag; ``bearing_temp`` = ambient + rise ``∝ s``
  through a ~10 min lag; ``vibration_rms ∝ 0.3 + 0.7·s²`` with multiplicative noise;
  ``voltage`` = 400 V with a daily grid swing and a small sag under current;
* measurement noise per sensor, sensor dropouts (null or missing key), network delay with a
  fraction of readings delivered late (so out of order), and injected, labelled faults
  (see :mod:`training.sim_faults`).

Assumptions: one reading per device every ``1/rate`` seconds (+0…10 % jitter), all 8 sensors in
one reading; event time starts at ``start_ms``. The run is generated in fixed chunks of event
time, so memory stays bounded and the output depends only on the configuration (same config
and seed → the same stream, byte for byte). Fails with ``ValueError`` on impossible
configurations (rate above 1000/s per device, non-positive duration, unknown fault kinds).

>>> cfg = SimConfig(devices=3, rate=1.0, duration_s=120, seed=7, start_ms=1_700_000_000_000)
>>> df = to_frame(cfg)
>>> list(df.columns[:3]), len(df) <= 3 * 120, df["device_id"].nunique()
(['device_id', 'ts', 'temperature'], True, 3)
>>> df.equals(to_frame(cfg))
True
>>> payload, label, kind = next(iter(simulate(cfg)))
>>> sorted(payload), payload["ts"].endswith("Z")
(['device_id', 'ts', 'values'], True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from training.sim_faults import FAULT_KINDS, Fault, apply_faults, plan_faults
from udfs import schema

#: The 8 sensors of every simulated device, in column order (the contract's list).
SENSORS: tuple[str, ...] = schema.SENSORS
#: Physical range the simulator keeps every value in (units: °C, °C, mm/s, bar, A, V, m³/h,
#: rpm). Faults stay inside it, so they reach the detectors instead of the DLQ.
SENSOR_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (-40.0, 200.0),
    "bearing_temp": (-40.0, 200.0),
    "vibration_rms": (0.0, 50.0),
    "pressure": (0.0, 25.0),
    "current": (0.0, 500.0),
    "voltage": (0.0, 1000.0),
    "flow": (0.0, 2000.0),
    "rpm": (0.0, 6000.0),
}
# Output precision per sensor (decimals), applied in the core so CSV, Kafka and frames agree.
_DECIMALS = np.array([2, 2, 4, 3, 2, 1, 2, 1])
_IDX = {s: i for i, s in enumerate(SENSORS)}
_REGIME_SPEED = np.array([0.35, 0.75, 0.95])  # idle, normal, peak
_DAY_MS = 86_400_000
_CHUNK_READINGS = 200_000  # readings per generation chunk (all devices together)


class SimConfig(BaseModel):
    """Simulator configuration (all fields have sensible defaults).

    ``rate`` is readings per second **per device**; the total rate is ``devices × rate``.
    ``anomaly_rate`` is the target fraction of event time spent inside injected faults.
    ``start_ms`` None means "now" (then the output is not reproducible across runs).
    Invalid values raise pydantic's ``ValidationError`` (a ``ValueError``) naming the field.

    >>> cfg = SimConfig(devices=3, rate=2.0, duration_s=60, start_ms=0)
    >>> cfg.interval_ms, cfg.device_ids()
    (500, ['pump-01', 'pump-02', 'pump-03'])
    """

    devices: int = Field(10, ge=1, le=100_000)
    rate: float = Field(1.0, gt=0, le=1000.0)
    duration_s: float = Field(600.0, gt=0)
    seed: int = 0
    anomaly_rate: float = Field(0.02, ge=0, le=0.5)
    fault_free_s: float | None = Field(
        None, ge=0, description="no fault in the first N seconds (train on them, score the rest); "
                                "anomaly_rate then applies to the time after. Default: a tenth of "
                                "the run, at most 10 min")
    start_ms: int | None = None
    dropout_rate: float = Field(0.002, ge=0, le=1)
    missing_key_share: float = Field(0.5, ge=0, le=1, description="dropouts sent as a missing key rather than null")
    late_fraction: float = Field(0.02, ge=0, le=1)
    late_mean_s: float = Field(5.0, ge=0)
    late_max_s: float = Field(60.0, ge=0)
    network_jitter_ms: int = Field(20, ge=0)
    malformed_rate: float = Field(0.0, ge=0, le=1, description="extra malformed messages per valid one (Kafka only)")
    order: Literal["delivery", "event"] = "delivery"
    kinds: tuple[str, ...] = FAULT_KINDS
    device_prefix: str = "pump"
    max_readings: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _lead_inside_run(self) -> "SimConfig":
        if self.fault_free_s is not None and round(self.fault_free_s * 1000) >= round(self.duration_s * 1000):
            raise ValueError(f"fault_free_s {self.fault_free_s} must be shorter than duration_s {self.duration_s}")
        return self

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [k for k in v if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {list(FAULT_KINDS)}")
        return tuple(v)

    @property
    def interval_ms(self) -> int:
        """Nominal sampling interval per device in ms."""
        return max(1, int(round(1000.0 / self.rate)))

    def resolved_start_ms(self) -> int:
        """``start_ms`` or now (to the millisecond)."""
        return int(time.time() * 1000) if self.start_ms is None else int(self.start_ms)

    def device_ids(self) -> list[str]:
        """``pump-01`` … (zero-padded to the device count)."""
        w = max(2, len(str(self.devices)))
        return [f"{self.device_prefix}-{i:0{w}d}" for i in range(1, self.devices + 1)]


@dataclass(slots=True)
class SimChunk:
    """A block of readings in output order (columnar; N readings)."""

    device: np.ndarray  # int32 [N] index into device_ids
    ts_ms: np.ndarray  # int64 [N] event time
    deliver_ms: np.ndarray  # int64 [N] when it is delivered (event time + network delay)
    values: np.ndarray  # float64 [N, 8], NaN = dropout
    missing_key: np.ndarray  # bool [N, 8], dropout sent as a missing key (else null)
    label: np.ndarray  # int8 [N]
    kind: np.ndarray  # int8 [N], 0 normal, else FAULT_KINDS[kind-1]

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def take(self, sel: np.ndarray | slice) -> SimChunk:
        """Subset (index array, mask or slice)."""
        return SimChunk(*(getattr(self, f)[sel] for f in self.__slots__))


class Simulation:
    """One configured run: device parameters, fault plan and the chunk generator.

    >>> sim = Simulation(SimConfig(devices=2, duration_s=30, seed=1, start_ms=0, anomaly_rate=0))
    >>> sum(len(c) for c in sim.chunks())
    60
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.start_ms = config.resolved_start_ms()
        self.device_ids = config.device_ids()
        self.run_ms = int(round(config.duration_s * 1000))
        if self.run_ms < config.interval_ms:
            raise ValueError(
                f"duration {config.duration_s}s is shorter than one sampling interval "
                f"({config.interval_ms} ms at rate {config.rate}/s)"
            )
        ss = np.random.SeedSequence(config.seed)
        seeds = ss.spawn(4)
        self._rng_dev = np.random.default_rng(seeds[0])
        self._rng_fault = np.random.default_rng(seeds[1])
        self._rng = np.random.default_rng(seeds[2])
        self.malformed_rng = np.random.default_rng(seeds[3])
        self._draw_devices()
        self.faults: list[Fault] = plan_faults(
            self._rng_fault,
            self.device_ids,
            SENSORS,
            self.start_ms,
            self.run_ms,
            config.interval_ms,
            config.anomaly_rate,
            config.kinds,
            None if config.fault_free_s is None else int(round(config.fault_free_s * 1000)),
        )

    # -- per-device parameters -------------------------------------------------------------
    def _draw_devices(self) -> None:
        r, n = self._rng_dev, self.config.devices
        self.p_rpm = np.where(r.random(n) < 0.5, 1480.0, 2960.0)
        self.p_irated = r.uniform(10, 60, n)
        self.p_flow = r.uniform(50, 300, n)
        self.p_press = r.uniform(3, 8, n)
        self.p_amb = r.uniform(18, 26, n)
        self.p_amb_amp = r.uniform(3, 6, n)
        self.p_vib = r.uniform(1.0, 2.5, n)
        self.p_trise = r.uniform(35, 55, n)
        self.p_brise = r.uniform(20, 35, n)
        self.p_phase = r.integers(0, self.config.interval_ms, n)  # sampling offset
        # Regime timeline per device: semi-Markov, dwell ~ Exp(15 min), day-dependent choice.
        self.regime_t: list[np.ndarray] = []
        self.regime_v: list[np.ndarray] = []
        end = self.start_ms + self.run_ms
        for _ in range(n):
            t = self.start_ms - int(r.uniform(0, 900_000))
            times, vals = [], []
            while t < end:
                hour = ((t % _DAY_MS) / 3_600_000.0)
                day = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3) / 24)  # 0 at 03:00, 1 at 15:00
                # P(idle) = 0.45 - 0.35·day, P(normal) = 0.45, P(peak) = 0.10 + 0.35·day
                u = r.random()
                p_idle = 0.45 - 0.35 * day
                vals.append(0 if u < p_idle else 1 if u < p_idle + 0.45 else 2)
                times.append(t)
                t += int(r.exponential(900_000)) + 60_000
            self.regime_t.append(np.array(times, dtype=np.int64))
            self.regime_v.append(np.array(vals, dtype=np.int8))
        self._regime_base = self.start_ms - 1_000_000
        self._regime_keys = np.concatenate(
            [(np.int64(d) << 42) + (t - self._regime_base) for d, t in enumerate(self.regime_t)]
        )
        self._regime_vals = np.concatenate(self.regime_v)
        # Nominal level of each sensor at normal load: the unit of fault magnitudes.
        s = 0.75
        amb = self.p_amb
        i_nom = self.p_irated * (0.25 + 0.75 * s**3)
        self.nominal = np.stack(
            [
                amb + self.p_trise * (i_nom / self.p_irated) ** 2,
                amb + self.p_brise * s,
                self.p_vib * (0.3 + 0.7 * s * s),
                self.p_press * s * s,
                i_nom,
                np.full(n, 400.0),
                self.p_flow * s,
                self.p_rpm * s,
            ],
            axis=1,
        )
        lo = np.array([SENSOR_RANGES[s_][0] for s_ in SENSORS])
        hi = np.array([SENSOR_RANGES[s_][1] for s_ in SENSORS])
        self._lo, self._hi = lo, hi

    # -- generation ------------------------------------------------------------------------
    def _event_chunks(self) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield event-time blocks [D, T] of (ts, values, labels, kinds, keep)."""
        cfg, r = self.config, self._rng
        D, iv = cfg.devices, cfg.interval_ms
        n_per_dev = int(math.ceil(self.run_ms / iv))
        T = max(1, _CHUNK_READINGS // D)
        dt_s = iv / 1000.0
        a_drive = math.exp(-dt_s / 20.0)
        a_motor = math.exp(-dt_s / 900.0)
        a_bear = math.exp(-dt_s / 600.0)
        zi_drive = zi_motor = zi_bear = None
        fault_state: dict = {}
        active: list[Fault] = []
        f_ptr = 0
        for i0 in range(0, n_per_dev, T):
            n = min(T, n_per_dev - i0)
            k = np.arange(i0, i0 + n, dtype=np.int64)
            jitter = r.integers(0, iv // 10 + 1, size=(D, n)) if iv >= 10 else 0  # ≥0: never before start
            ts = self.start_ms + self.p_phase[:, None] + k[None, :] * iv + jitter
            # regime → target speed, with a small daily modulation and wander
            # one searchsorted for all devices: key = device << 42 | (t - base)
            q = (np.arange(D, dtype=np.int64)[:, None] << 42) + (ts - self._regime_base)
            j = np.searchsorted(self._regime_keys, q.ravel(), side="right") - 1
            target = _REGIME_SPEED[self._regime_vals[j]].reshape(D, n)
            tod = (ts % _DAY_MS) / _DAY_MS
            daily = np.sin(2 * np.pi * (tod - 0.375))  # peak at 15:00 UTC
            target = target * (1.0 + 0.04 * daily) + r.normal(0, 0.01, (D, n))
            if zi_drive is None:
                zi_drive = target[:, 0].copy()
            s, zi_drive = _ema(target, a_drive, zi_drive)
            s = np.clip(s, 0.05, 1.05)
            amb = self.p_amb[:, None] + self.p_amb_amp[:, None] * daily
            irat = self.p_irated[:, None]
            current = irat * (0.25 + 0.75 * s**3)
            heat_m = amb + self.p_trise[:, None] * (current / irat) ** 2
            heat_b = amb + self.p_brise[:, None] * s
            if zi_motor is None:
                zi_motor = heat_m[:, 0].copy()
                zi_bear = heat_b[:, 0].copy()
            temp, zi_motor = _ema(heat_m, a_motor, zi_motor)
            btemp, zi_bear = _ema(heat_b, a_bear, zi_bear)
            v = np.empty((D, n, len(SENSORS)))
            v[..., 0] = temp + r.normal(0, 0.15, (D, n))
            v[..., 1] = btemp + r.normal(0, 0.15, (D, n))
            v[..., 2] = self.p_vib[:, None] * (0.3 + 0.7 * s * s) * np.exp(r.normal(0, 0.06, (D, n)))
            v[..., 3] = self.p_press[:, None] * s * s * (1 + r.normal(0, 0.01, (D, n)))
            v[..., 4] = current * (1 + r.normal(0, 0.012, (D, n)))
            v[..., 5] = 400.0 + 4.0 * np.sin(2 * np.pi * (tod - 0.2)) - 0.02 * current + r.normal(0, 1.2, (D, n))
            v[..., 6] = self.p_flow[:, None] * s * (1 + r.normal(0, 0.01, (D, n)))
            v[..., 7] = self.p_rpm[:, None] * s + r.normal(0, 2.0, (D, n))
            labels = np.zeros((D, n), np.int8)
            kinds = np.zeros((D, n), np.int8)
            keep = ts < self.start_ms + self.run_ms
            # only the faults that can touch this chunk (the plan is sorted by start)
            c1 = int(ts.max())
            while f_ptr < len(self.faults) and self.faults[f_ptr].start_ms <= c1:
                active.append(self.faults[f_ptr])
                f_ptr += 1
            apply_faults(active, ts, v, self.nominal, _IDX, labels, kinds, keep, fault_state)
            active = [
                f for f in active
                if f.end_ms > int(ts[f.device, -1]) or (f.kind == "silence" and ("silence", id(f)) not in fault_state)
            ]
            np.clip(v, self._lo, self._hi, out=v)
            v = _round(v)
            if cfg.dropout_rate > 0:
                drop = r.random((D, n, len(SENSORS))) < cfg.dropout_rate
                v[drop] = np.nan
            yield ts, v, labels, kinds, keep

    def chunks(self) -> Iterator[SimChunk]:
        """Readings in output order (delivery order unless ``order="event"``), chunk by chunk."""
        cfg, r = self.config, self._rng
        late_max = int(cfg.late_max_s * 1000)
        pending: SimChunk | None = None
        emitted = 0
        for ts, v, labels, kinds, keep in self._event_chunks():
            D, n = ts.shape
            dev = np.broadcast_to(np.arange(D, dtype=np.int32)[:, None], (D, n))
            m = keep.ravel()
            # Draw delivery noise for every slot before dropping silenced readings, so the
            # random stream (and so the signals) do not depend on the fault plan: a run with
            # anomaly_rate=0 and the same seed is the exact fault-free twin.
            M = D * n
            delay = r.integers(0, cfg.network_jitter_ms + 1, M) if cfg.network_jitter_ms else np.zeros(M, np.int64)
            if cfg.late_fraction > 0:
                late = r.random(M) < cfg.late_fraction
                extra = np.minimum(r.exponential(cfg.late_mean_s * 1000, M), late_max).astype(np.int64)
                delay = delay + np.where(late, extra, 0)
            mk = (r.random((M, len(SENSORS))) < cfg.missing_key_share)[m]
            delay = delay[m]
            ts_f = ts.ravel()[m]
            vals = v.reshape(-1, len(SENSORS))[m]
            chunk = SimChunk(
                dev.ravel()[m].copy(),
                ts_f,
                ts_f + delay,
                vals,
                mk & np.isnan(vals),
                labels.ravel()[m],
                kinds.ravel()[m],
            )
            horizon = int(ts[:, -1].min())  # every later reading has event time > horizon
            if pending is not None and len(pending):
                chunk = _concat(pending, chunk)
            if cfg.order == "event":
                o = np.lexsort((chunk.device, chunk.ts_ms))
                key = chunk.ts_ms[o]
            else:
                o = np.lexsort((chunk.device, chunk.ts_ms, chunk.deliver_ms))
                key = chunk.deliver_ms[o]
            chunk = chunk.take(o)
            cut = int(np.searchsorted(key, horizon, side="right"))
            out, pending = chunk.take(slice(0, cut)), chunk.take(slice(cut, None))
            emitted += len(out)
            if cfg.max_readings is not None and emitted >= cfg.max_readings:
                yield out.take(slice(0, len(out) - (emitted - cfg.max_readings)))
                return
            if len(out):
                yield out
        if pending is not None and len(pending):
            if cfg.max_readings is not None:
                pending = pending.take(slice(0, max(0, cfg.max_readings - emitted)))
            yield pending


def _ema(x: np.ndarray, a: float, y0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order lag ``y[n] = a·y[n-1] + (1-a)·x[n]`` along axis 1, from state ``y0`` [D].

    Closed form per block (``y[n] = a^(n+1)·y0 + (1-a)·Σ a^(n-k)·x[k]``) with blocks short
    enough that ``a^-k`` stays well inside float range; returns (y, last y).
    """
    D, T = x.shape
    y = np.empty_like(x)
    block = T if a >= 1 else max(1, min(T, int(20.0 / -math.log(a))))
    prev = y0
    for b0 in range(0, T, block):
        xb = x[:, b0 : b0 + block]
        k = np.arange(xb.shape[1])
        up = a ** -(k.astype(np.float64))
        acc = np.cumsum(xb * up, axis=1) * (1 - a)
        down = a ** (k + 1.0)
        yb = down * (prev[:, None] + acc / a)
        y[:, b0 : b0 + block] = yb
        prev = yb[:, -1]
    return y, prev


def _round(v: np.ndarray) -> np.ndarray:
    out = np.empty_like(v)
    for j, dec in enumerate(_DECIMALS):
        np.round(v[..., j], int(dec), out=out[..., j])
    return out


def _concat(a: SimChunk, b: SimChunk) -> SimChunk:
    return SimChunk(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in a.__slots__))


# -- public helpers -------------------------------------------------------------------------


def kind_name(code: int) -> str:
    """Fault kind for a code (0 → "")."""
    return "" if code == 0 else FAULT_KINDS[code - 1]


def iso_ms(ts_ms: np.ndarray) -> np.ndarray:
    """Epoch ms → ISO-8601 strings with milliseconds and ``Z`` (vectorised).

    >>> str(iso_ms(np.array([1_700_000_000_120]))[0])
    '2023-11-14T22:13:20.120Z'
    """
    s = np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="ms")
    return np.char.add(s, "Z")


def _config(config: SimConfig | None, overrides: dict) -> SimConfig:
    """``config`` with ``overrides`` applied and validated."""
    cfg = config or SimConfig()
    return SimConfig.model_validate({**cfg.model_dump(), **overrides}) if overrides else cfg


def simulate(config: SimConfig | None = None, ts_format: Literal["iso", "epoch_ms"] = "iso", **overrides) -> Iterator[tuple[dict, int, str]]:
    """Yield ``(payload, label, fault_kind)`` per reading, payload exactly as on Kafka.

    ``payload = {"device_id", "ts", "values"}``; a dropped-out sensor is ``None`` or absent.
    ``overrides`` replace fields of ``config`` (validated).
    """
    cfg = _config(config, overrides)
    sim = Simulation(cfg)
    ids = sim.device_ids
    for c in sim.chunks():
        ts = iso_ms(c.ts_ms).tolist() if ts_format == "iso" else c.ts_ms.tolist()
        vals = c.values.tolist()
        mk = c.missing_key
        any_mk = mk.any(axis=1).tolist()
        for i, (d, t, row, lab, k) in enumerate(zip(c.device.tolist(), ts, vals, c.label.tolist(), c.kind.tolist())):
            if any_mk[i]:
                values = {s: (None if x != x else x) for j, (s, x) in enumerate(zip(SENSORS, row)) if not mk[i, j]}
            else:
                values = {s: (None if x != x else x) for s, x in zip(SENSORS, row)}
            yield {"device_id": ids[d], "ts": t, "values": values}, lab, kind_name(k)


def to_frame(config: SimConfig | None = None, **overrides):
    """The run as a DataFrame per the Dataset contract (device_id, ts ms, sensors, label, fault_kind).

    Rows in the configured order (delivery by default); ``overrides`` replace config fields.
    """
    import pandas as pd

    cfg = _config(config, overrides)
    sim = Simulation(cfg)
    parts = list(sim.chunks())
    if not parts:
        return pd.DataFrame(columns=["device_id", "ts", *SENSORS, "label", "fault_kind"])
    c = parts[0] if len(parts) == 1 else _concat_all(parts)
    ids = np.array(sim.device_ids, dtype=object)
    kinds = np.array(["", *FAULT_KINDS], dtype=object)
    data = {"device_id": ids[c.device], "ts": c.ts_ms.astype(np.int64)}
    for j, s in enumerate(SENSORS):
        data[s] = c.values[:, j]
    data["label"] = c.label.astype(np.int64)
    data["fault_kind"] = kinds[c.kind]
    df = pd.DataFrame(data)
    df["device_id"] = df["device_id"].astype(str)
    df["fault_kind"] = df["fault_kind"].astype(str)
    return df


def _concat_all(parts: list[SimChunk]) -> SimChunk:
    return SimChunk(*(np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__slots__))


def write_csv(config: SimConfig, path: str | Path, progress=None) -> dict:
    """Write the labelled stream to ``path`` (CSV, ``ts`` as ISO ms ``Z``); return a summary.

    Columns: device_id, ts, the 8 sensors (empty = dropout), label, fault_kind. Rows are in
    the configured order (delivery order by default).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sim = Simulation(config)
    ids = pa.array(sim.device_ids)
    kinds = pa.array(["", *FAULT_KINDS])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [("device_id", pa.string()), ("ts", pa.string())]
        + [(s, pa.float64()) for s in SENSORS]
        + [("label", pa.int8()), ("fault_kind", pa.string())]
    )
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = anomalous = 0
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as fh:
        fh.write((",".join(schema.names) + "\n").encode())
        w = pacsv.CSVWriter(fh, schema, write_options=opts)
        for c in sim.chunks():
            cols = [ids.take(pa.array(c.device)), pa.array(iso_ms(c.ts_ms))]
            for j in range(len(SENSORS)):
                col = c.values[:, j]
                cols.append(pa.array(col, mask=np.isnan(col)))
            cols += [pa.array(c.label), kinds.take(pa.array(c.kind))]
            w.write_table(pa.Table.from_arrays(cols, schema=schema))
            n += len(c)
            anomalous += int(c.label.sum())
            if progress is not None:
                progress(len(c))
        w.close()
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "readings": n,
        "anomalous": anomalous,
        "faults": len(sim.faults),
        "seconds": round(dt, 3),
        "readings_per_s": round(n / dt, 1) if dt > 0 else None,
        "cpu_s": round(cpu, 3),
        "readings_per_cpu_s": round(n / cpu, 1) if cpu > 0 else None,
        "path": str(path),
    }
