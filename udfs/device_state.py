"""Per-device streaming state: ordering/lateness, windows, imputation, stream-level alerts.

One :class:`DeviceProcessor` per device key. The Flink job keeps ``to_bytes()`` in ONE
ValueState per key; replay keeps the objects in a dict. Both call exactly these methods:

* ``on_reading(reading)`` → :class:`Step`: windows ready for scoring (imputed, with imputed
  fraction), stream-level alerts (``out_of_range`` vs operating limits, ``sensor_stuck``,
  ``stream_silent`` for one sensor missing longer than ``max_gap`` readings, and the close of
  a device-level ``stream_silent``), or ``late`` (→ DLQ with reason ``late``).
* ``next_timer_ms()`` → the event time at which the device counts as silent; register an
  (event-time) timer there; ``on_timer(t)`` → the ``stream_silent`` alert if still silent.
  A reading arriving after a gap longer than ``silent_after_ms`` opens and closes the same
  alert (same id) if the timer has not fired yet, so the alerts do not depend on timer timing.

Lateness (both window modes): the device watermark is ``max_ts − out_of_orderness_ms``; a
reading with ``ts < watermark − allowed_lateness_ms`` is late. Others are inserted in time
order into the buffer. Count windows fire on ARRIVAL: every ``slide`` accepted readings the
last ``window`` readings (time-ordered) form a window. Time windows ``[k·slide_ms,
k·slide_ms + window_ms)`` fire once, when the device watermark passes their end, resampled
to the spec's ``window`` points (bin means); a reading arriving after its window fired
still enters the buffer but does not re-fire that window.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from udfs.config import JobConfig
from udfs.features import FeatureSpec
from udfs.imputation import impute
from udfs.schema import Alert, Reading, iso_ms, make_alert_id
from udfs.windows import RingBuffer, resample

NO_TS = -(1 << 62)
_SCAL = struct.Struct("<BqqqqqqqqH")  # version, max_ts, since, next_end, silent_open, accepted, late, emitted, skipped, len(device)
_VERSION = 1


@dataclass(slots=True)
class Window:
    """An imputed window ready for scoring: ``values`` float32 ``[T, S]`` in spec sensor order,
    no NaN; ``start_ms``/``end_ms`` are the first/last reading (count) or the window bounds (time)."""

    device_id: str
    start_ms: int
    end_ms: int
    values: np.ndarray  # float32 [T, S], no NaN
    imputed_fraction: float
    n_readings: int


@dataclass(slots=True)
class Step:
    """What one reading produced: windows to score, stream-level alerts, or ``late`` + detail."""

    windows: list[Window] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    late: bool = False
    detail: str = ""


class Context:
    """What every DeviceProcessor of one job shares: config, feature spec, derived sizes.

    Fails (ValueError) when a count-window config disagrees with the model's window length.

    >>> ctx = Context(JobConfig(), FeatureSpec(sensors=["a"], window=4, slide=2))
    >>> ctx.T, ctx.slide, ctx.sensors
    (4, 2, ['a'])
    """

    def __init__(self, config: JobConfig, spec: FeatureSpec) -> None:
        self.config = config
        self.spec = spec
        self.sensors = list(spec.sensors)
        self.S = len(self.sensors)
        self.T = spec.window
        self.time_mode = config.window_mode == "time"
        if not self.time_mode and config.window is not None and config.window != spec.window:
            raise ValueError(f"window {config.window} readings, but the bundle's model takes {spec.window}")
        self.slide = config.slide or spec.slide
        if self.time_mode:
            self.window_ms = int(config.window_ms or 0)
            self.slide_ms = int(config.slide_ms or 0)
            step = self.window_ms / self.T
            self.max_gap = (int(config.max_gap_ms // step) if config.max_gap_ms is not None else config.max_gap)
        else:
            self.max_gap = config.max_gap
        lim = config.operating_limits
        self.op_lo_l = [float(lim.get(s, (-math.inf, math.inf))[0]) for s in self.sensors]
        self.op_hi_l = [float(lim.get(s, (-math.inf, math.inf))[1]) for s in self.sensors]
        self.per_sensor = struct.Struct(f"<{self.S}d{self.S}i{self.S}i{self.S}q{self.S}q{self.S}q")
        self.index = {s: i for i, s in enumerate(self.sensors)}

    def new(self, device_id: str) -> "DeviceProcessor":
        return DeviceProcessor(self, device_id)


class DeviceProcessor:
    """State machine of one device (see module doc for semantics).

    Assumes readings of ONE device; sensors outside the feature spec are ignored. Never
    raises on data (bad readings were rejected by ``parse_reading``); ``from_bytes`` raises
    ValueError on corrupt state.

    >>> ctx = Context(JobConfig(max_gap=1, stuck_after=3), FeatureSpec(sensors=["a", "b"], window=3, slide=1))
    >>> p = ctx.new("pump-1")
    >>> steps = [p.on_reading(Reading("pump-1", t, {"a": float(t), "b": 1.0})) for t in (1000, 2000, 3000)]
    >>> [len(s.windows) for s in steps], [a.kind for s in steps for a in s.alerts]
    ([0, 0, 1], ['sensor_stuck'])
    >>> steps[2].windows[0].values[:, 0].tolist()
    [1000.0, 2000.0, 3000.0]
    >>> q = DeviceProcessor.from_bytes(ctx, p.to_bytes()); q.next_timer_ms() == p.next_timer_ms() == 33000
    True
    """

    __slots__ = ("ctx", "device_id", "buf", "max_ts", "since", "next_end", "silent_open",
                 "accepted", "late", "emitted", "skipped", "last_val", "same_run", "miss_run",
                 "stuck_open", "oor_open", "miss_open")

    def __init__(self, ctx: Context, device_id: str) -> None:
        self.ctx = ctx
        self.device_id = device_id
        S = ctx.S
        if ctx.time_mode:
            self.buf = RingBuffer(max(2 * ctx.T, 64), S, growable=True)
        else:
            self.buf = RingBuffer(ctx.T, S)
        self.max_ts = NO_TS
        self.since = 0
        self.next_end = NO_TS
        self.silent_open = NO_TS  # opening deadline of an open device-level stream_silent
        self.accepted = self.late = self.emitted = self.skipped = 0
        # per-sensor stream state as plain lists (cheaper than numpy for S≈8 per record)
        self.last_val: list[float] = [math.nan] * S
        self.same_run: list[int] = [0] * S
        self.miss_run: list[int] = [0] * S
        self.stuck_open: list[int] = [NO_TS] * S
        self.oor_open: list[int] = [NO_TS] * S
        self.miss_open: list[int] = [NO_TS] * S

    # ---------------------------------------------------------------- alerts
    def _alert(self, kind: str, sensor: str | None, open_ts: int, status: str, at_ms: int,
               detail: str, severity: str = "warning", start_ms: int | None = None) -> Alert:
        return Alert(
            alert_id=make_alert_id(self.device_id, open_ts, kind, "-", sensor),
            device_id=self.device_id, kind=kind, severity=severity, status=status,
            window_start=iso_ms(open_ts if start_ms is None else start_ms), window_end=iso_ms(open_ts),
            detected_at=iso_ms(at_ms), opened_at=iso_ms(open_ts),
            closed_at=iso_ms(at_ms) if status == "closed" else None, sensor=sensor, detail=detail,
        )

    def _stream_checks(self, ts: int, vals: list[float | None], out: list[Alert]) -> None:
        # Plain Python over S floats: ~10x cheaper than numpy ops on tiny arrays, per record.
        c = self.ctx.config
        tol, stuck_after, max_gap = c.stuck_tolerance, c.stuck_after, self.ctx.max_gap
        lo_, hi_, names = self.ctx.op_lo_l, self.ctx.op_hi_l, self.ctx.sensors
        last, same, miss = self.last_val, self.same_run, self.miss_run
        for j, v in enumerate(vals):
            if v is None:
                miss[j] += 1
                if miss[j] > max_gap and self.miss_open[j] == NO_TS:
                    self.miss_open[j] = ts
                    out.append(self._alert("stream_silent", names[j], ts, "open", ts,
                                           f"{names[j]} missing for {miss[j]} readings > max_gap {max_gap}"))
                continue
            miss[j] = 0
            if self.miss_open[j] != NO_TS:
                out.append(self._alert("stream_silent", names[j], self.miss_open[j], "closed", ts,
                                       "sensor reports again"))
                self.miss_open[j] = NO_TS
            lo, hi = lo_[j], hi_[j]
            if v < lo or v > hi:  # operating limits → out_of_range alert (open while outside)
                if self.oor_open[j] == NO_TS:
                    span = hi - lo if math.isfinite(hi - lo) else 0.0
                    far = span > 0 and (v > hi + 0.5 * span or v < lo - 0.5 * span)
                    self.oor_open[j] = ts
                    out.append(self._alert("out_of_range", names[j], ts, "open", ts,
                                           f"{names[j]}={v:.6g} outside operating limits [{lo}, {hi}]",
                                           "critical" if far else "warning"))
            elif self.oor_open[j] != NO_TS:
                out.append(self._alert("out_of_range", names[j], self.oor_open[j], "closed", ts,
                                       "back within operating limits"))
                self.oor_open[j] = NO_TS
            if abs(v - last[j]) <= tol:  # flat line → sensor_stuck
                same[j] += 1
                if same[j] >= stuck_after and self.stuck_open[j] == NO_TS:
                    self.stuck_open[j] = ts
                    out.append(self._alert("sensor_stuck", names[j], ts, "open", ts,
                                           f"{names[j]} constant at {v:.6g} for {same[j]} readings"))
            else:
                same[j] = 1
                if self.stuck_open[j] != NO_TS:
                    out.append(self._alert("sensor_stuck", names[j], self.stuck_open[j], "closed", ts,
                                           "values change again"))
                    self.stuck_open[j] = NO_TS
            last[j] = v

    # ---------------------------------------------------------------- readings
    def ordered(self, values: dict[str, float | None]) -> list[float | None]:
        """Reading values in spec sensor order (absent → None); other sensors are ignored."""
        g = values.get
        return [g(s) for s in self.ctx.sensors]

    def on_reading(self, reading: Reading, now_ms: int | None = None) -> Step:
        """Process one validated reading of this device (see module doc)."""
        c = self.ctx.config
        ts = int(reading.ts_ms)
        step = Step()
        if self.max_ts != NO_TS:
            horizon = self.max_ts - c.out_of_orderness_ms - c.allowed_lateness_ms
            if ts < horizon:
                self.late += 1
                step.late = True
                step.detail = f"ts {ts} is {horizon - ts} ms behind the device's lateness horizon {horizon}"
                return step
        vals = self.ordered(reading.values)
        row = np.array([math.nan if v is None else v for v in vals], np.float32)
        at = ts if now_ms is None else now_ms
        if self.silent_open == NO_TS and self.max_ts != NO_TS and ts >= self.max_ts + c.silent_after_ms:
            # The gap is visible in the data itself: open (and below, close) the silence alert
            # even if the timer has not fired yet, so the set of alert ids never depends on
            # when watermarks happened to advance (restores and replays agree).
            step.alerts.extend(self.on_timer(ts))
        if self.silent_open != NO_TS:  # the device talks again: close stream_silent
            step.alerts.append(self._alert("stream_silent", None, self.silent_open, "closed", at,
                                           "device reports again"))
            self.silent_open = NO_TS
        in_order = ts > self.max_ts
        if in_order:  # flat-line / missing / limit checks follow arrival order of fresh readings
            self._stream_checks(ts, vals, step.alerts)
        self.accepted += 1
        res = self.buf.insert(ts, row)
        self.max_ts = max(self.max_ts, ts)
        if self.ctx.time_mode:
            self._fire_time(step)
        elif res != "merged":
            self.since += 1
            if self.buf.n >= self.ctx.T and self.since >= self.ctx.slide:
                self.since = 0
                tsw, vals = self.buf.tail(self.ctx.T)
                self._emit(int(tsw[0]), int(tsw[-1]), vals, self.ctx.T, step)
        return step

    def _emit(self, start: int, end: int, raw: np.ndarray, n_readings: int, step: Step) -> None:
        c = self.ctx.config
        imp = impute(raw, c.imputation, self.ctx.max_gap, c.ewma_alpha)
        if not imp.ok:
            self.skipped += 1
            return
        self.emitted += 1
        step.windows.append(Window(self.device_id, start, end, imp.values, imp.fraction, n_readings))

    def _fire_time(self, step: Step) -> None:
        W, sl = self.ctx.window_ms, self.ctx.slide_ms
        wm = self.max_ts - self.ctx.config.out_of_orderness_ms
        if self.next_end == NO_TS:
            first = int(self.buf.ts[0])
            self.next_end = (first // sl + 1) * sl
        while self.next_end <= wm:
            end = self.next_end
            start = end - W
            ts = self.buf.ts
            lo, hi = np.searchsorted(ts, [start, end])
            if hi > lo:
                grid = resample(ts[lo:hi], self.buf.values[lo:hi], start, end, self.ctx.T)
                self._emit(start, end, grid, int(hi - lo), step)
                self.next_end = end + sl
            else:
                # empty window: jump to the first window that can contain the next reading
                nxt = int(ts[hi]) if hi < len(ts) else wm + 1
                self.next_end = max(end + sl, (nxt // sl + 1) * sl)
        # keep what unfired windows and lateness still need
        keep = min(self.next_end - W, wm - self.ctx.config.allowed_lateness_ms)
        self.buf.evict_before(keep)

    # ---------------------------------------------------------------- timers
    def next_timer_ms(self) -> int | None:
        """Event time at which the device is silent (None before the first reading or while
        a silence alert is open). Stale timers are harmless: ``on_timer`` re-checks."""
        if self.max_ts == NO_TS or self.silent_open != NO_TS:
            return None
        return self.max_ts + self.ctx.config.silent_after_ms

    def on_timer(self, now_ms: int) -> list[Alert]:
        """Open ``stream_silent`` when ``now_ms`` reached :meth:`next_timer_ms`. Its id uses the
        deadline (last reading + silent_after_ms), so it is deterministic whatever the firing time."""
        due = self.next_timer_ms()
        if due is None or now_ms < due:
            return []
        self.silent_open = due
        return [self._alert("stream_silent", None, due, "open", now_ms,
                            f"no reading for {self.ctx.config.silent_after_ms} ms after {iso_ms(self.max_ts)}",
                            start_ms=self.max_ts)]

    # ---------------------------------------------------------------- state
    def to_bytes(self) -> bytes:
        """Compact state (struct header + numpy arrays + ring buffer)."""
        dev = self.device_id.encode("utf-8", "surrogatepass")
        names = "\x1f".join(self.ctx.sensors).encode()
        return b"".join((
            _SCAL.pack(_VERSION, self.max_ts, self.since, self.next_end, self.silent_open, self.accepted,
                       self.late, self.emitted, self.skipped, len(dev)), dev,
            struct.pack("<I", len(names)), names,
            self.ctx.per_sensor.pack(*self.last_val, *self.same_run, *self.miss_run, *self.stuck_open,
                                     *self.oor_open, *self.miss_open),
            self.buf.to_bytes(),
        ))

    @classmethod
    def from_bytes(cls, ctx: Context, data: bytes) -> "DeviceProcessor":
        """Restore state. A state written with other sensors (a new model) is remapped by
        sensor name; the buffer keeps as many recent readings as the new layout holds."""
        (ver, max_ts, since, next_end, silent, acc, late, emitted, skipped, ld) = _SCAL.unpack_from(data, 0)
        if ver != _VERSION:
            raise ValueError(f"device state version {ver}, expected {_VERSION}")
        o = _SCAL.size
        dev = bytes(data[o: o + ld]).decode("utf-8", "surrogatepass")
        o += ld
        (ln,) = struct.unpack_from("<I", data, o)
        o += 4
        old = bytes(data[o: o + ln]).decode().split("\x1f")
        o += ln
        S = len(old)
        layout = ctx.per_sensor if S == ctx.S else struct.Struct(f"<{S}d{S}i{S}i{S}q{S}q{S}q")
        flat = layout.unpack_from(data, o)
        o += layout.size
        lv, sr, mr, so, oo, mo = (list(flat[k * S:(k + 1) * S]) for k in range(6))
        buf, o = RingBuffer.from_bytes_at(data, o)
        same = old == ctx.sensors and buf.growable == ctx.time_mode and (ctx.time_mode or buf.cap == ctx.T)
        if same:  # fast path (every record in Flink): no fresh allocation besides the buffer
            p = cls.__new__(cls)
            p.ctx, p.device_id, p.buf = ctx, dev, buf
            p.last_val, p.same_run, p.miss_run = lv, sr, mr
            p.stuck_open, p.oor_open, p.miss_open = so, oo, mo
        else:
            p = cls(ctx, dev)
        p.max_ts, p.since, p.next_end, p.silent_open = max_ts, since, next_end, silent
        p.accepted, p.late, p.emitted, p.skipped = acc, late, emitted, skipped
        if same:
            return p
        # layout changed (new bundle): remap columns by name, refill the new buffer
        src = [old.index(s) if s in old else -1 for s in ctx.sensors]
        for j, i in enumerate(src):
            if i >= 0:
                p.last_val[j], p.same_run[j], p.miss_run[j] = lv[i], sr[i], mr[i]
                p.stuck_open[j], p.oor_open[j], p.miss_open[j] = so[i], oo[i], mo[i]
        for t, v in zip(buf.ts, buf.values):
            row = np.array([v[i] if i >= 0 else np.nan for i in src], np.float32)
            p.buf.insert(int(t), row)
        if ctx.time_mode != (next_end != NO_TS or buf.growable):
            p.next_end = NO_TS
        return p
