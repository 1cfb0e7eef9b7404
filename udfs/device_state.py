"""Per-device streaming state: ordering/lateness, windows, stream-level alerts -- the reference.

One :class:`DeviceProcessor` per device key; replay keeps them in a dict. The anomaly job runs
the same semantics in the JVM (``jobs/jvm``: ``vigil.flink.device.DeviceLogic``), proven equal
to this code on generated streams (``tests/test_jvm_equals_udfs.py``). Both follow exactly these
rules:

* ``on_reading(reading)`` → :class:`Step`: raw windows ready for scoring (NaN where a sensor was
  missing; imputation belongs to the batch scoring step, ``udfs.batch``), stream-level alerts
  (``out_of_range`` vs operating limits, ``sensor_stuck``, ``stream_silent`` for one sensor
  missing longer than ``max_gap`` readings, and the close of a device-level ``stream_silent``),
  or ``late`` (→ DLQ with reason ``late``).
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from udfs.config import JobConfig
from udfs.features import FeatureSpec
from udfs.schema import Alert, Reading, iso_ms, make_alert_id
from udfs.windows import RingBuffer, resample

NO_TS = -(1 << 62)


@dataclass(slots=True)
class Window:
    """A raw window ready for batch scoring: ``values`` float32 ``[T, S]`` in spec sensor order,
    NaN where a sensor was missing; ``start_ms``/``end_ms`` are the first/last reading (count)
    or the window bounds (time); ``n_readings`` the readings it holds."""

    device_id: str
    start_ms: int
    end_ms: int
    values: np.ndarray  # float32 [T, S], NaN = missing
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
        self.window_ms = int(config.window_ms or 0) if self.time_mode else 0
        self.slide_ms = int(config.slide_ms or 0) if self.time_mode else 0
        if self.time_mode:
            step = self.window_ms / self.T
            self.max_gap = (int(config.max_gap_ms // step) if config.max_gap_ms is not None else config.max_gap)
        else:
            self.max_gap = config.max_gap
        lim = config.operating_limits
        self.op_lo_l = [float(lim.get(s, (-math.inf, math.inf))[0]) for s in self.sensors]
        self.op_hi_l = [float(lim.get(s, (-math.inf, math.inf))[1]) for s in self.sensors]
        self.index = {s: i for i, s in enumerate(self.sensors)}

    def new(self, device_id: str) -> "DeviceProcessor":
        return DeviceProcessor(self, device_id)

    def jvm_settings(self) -> dict[str, Any]:
        """What the JVM implementation needs, with every derived value computed here once
        (window sizes, the time-mode ``max_gap``, operating limits in spec order)."""
        c = self.config
        return {
            "sensors": self.sensors, "T": self.T, "slide": self.slide, "time_mode": self.time_mode,
            "window_ms": self.window_ms, "slide_ms": self.slide_ms,
            "max_gap": self.max_gap, "op_lo": self.op_lo_l, "op_hi": self.op_hi_l,
            "stuck_after": c.stuck_after, "stuck_tolerance": c.stuck_tolerance,
            "silent_after_ms": c.silent_after_ms, "out_of_orderness_ms": c.out_of_orderness_ms,
            "allowed_lateness_ms": c.allowed_lateness_ms,
        }


class DeviceProcessor:
    """State machine of one device (see module doc for semantics).

    Assumes readings of ONE device; sensors outside the feature spec are ignored. Never
    raises on data (bad readings were rejected by ``parse_reading``).

    >>> ctx = Context(JobConfig(max_gap=1, stuck_after=3), FeatureSpec(sensors=["a", "b"], window=3, slide=1))
    >>> p = ctx.new("pump-1")
    >>> steps = [p.on_reading(Reading("pump-1", t, {"a": float(t), "b": 1.0})) for t in (1000, 2000, 3000)]
    >>> [len(s.windows) for s in steps], [a.kind for s in steps for a in s.alerts]
    ([0, 0, 1], ['sensor_stuck'])
    >>> steps[2].windows[0].values[:, 0].tolist()
    [1000.0, 2000.0, 3000.0]
    >>> p.next_timer_ms()
    33000
    """

    __slots__ = ("ctx", "device_id", "buf", "max_ts", "since", "next_end", "silent_open",
                 "accepted", "late", "emitted", "last_val", "same_run", "miss_run",
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
        self.accepted = self.late = self.emitted = 0
        # per-sensor stream state as plain lists (cheaper than numpy for S≈8 per record)
        self.last_val: list[float] = [math.nan] * S
        self.same_run: list[int] = [0] * S
        self.miss_run: list[int] = [0] * S
        self.stuck_open: list[int] = [NO_TS] * S
        self.oor_open: list[int] = [NO_TS] * S
        self.miss_open: list[int] = [NO_TS] * S

    # ---------------------------------------------------------------- alerts
    def _alert(self, kind: str, sensor: str | None, open_ts: int, status: str, event_ms: int,
               detail: str, severity: str = "warning", start_ms: int | None = None,
               detected_ms: int | None = None) -> Alert:
        """``event_ms``: the event time that opened/closed it (``closed_at``); ``detected_ms``:
        when it was noticed (the job's wall clock; defaults to ``event_ms``)."""
        return Alert(
            alert_id=make_alert_id(self.device_id, open_ts, kind, "-", sensor),
            device_id=self.device_id, kind=kind, severity=severity, status=status,
            window_start=iso_ms(open_ts if start_ms is None else start_ms), window_end=iso_ms(open_ts),
            detected_at=iso_ms(event_ms if detected_ms is None else detected_ms), opened_at=iso_ms(open_ts),
            closed_at=iso_ms(event_ms) if status == "closed" else None, sensor=sensor, detail=detail,
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
            step.alerts.append(self._alert("stream_silent", None, self.silent_open, "closed", ts,
                                           "device reports again", detected_ms=at))
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
        self.emitted += 1
        step.windows.append(Window(self.device_id, start, end, raw, n_readings))

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
