"""Fault schedule and fault injection for the device simulator.

Faults are planned once for the whole run (so the plan does not depend on how the run is cut
into chunks) and applied chunk by chunk to the clean signals. Every affected reading gets
``label = 1`` and the fault's kind; ``silence`` removes readings, so its label sits on the
first reading after the gap (the moment a detector can know about it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: The injected fault kinds, in their stable code order (code = index + 1; 0 = normal).
FAULT_KINDS: tuple[str, ...] = (
    "spike",
    "level_shift",
    "drift",
    "stuck",
    "silence",
    "bearing_failure",
)

# Typical durations in seconds (min, max); spikes are counted in readings instead.
_DURATION_S: dict[str, tuple[float, float]] = {
    "level_shift": (120.0, 600.0),
    "drift": (600.0, 1800.0),
    "stuck": (120.0, 600.0),
    "silence": (60.0, 300.0),
    "bearing_failure": (600.0, 1800.0),
}
# Single-sensor faults pick one of these sensors (indices into SENSORS of the simulator).
_SINGLE_SENSOR_KINDS = ("spike", "level_shift", "drift", "stuck")
#: Sensors a bearing failure moves together.
BEARING_SENSORS: tuple[str, ...] = ("vibration_rms", "bearing_temp", "current", "temperature")


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: device, kind, event-time window ``[start_ms, end_ms)``, sensors.

    ``magnitude`` is signed and relative to the sensor's nominal level (drift: the level
    reached at the end; bearing failure: severity factor in [0.5, 1]).

    >>> f = Fault("pump-01", 0, "stuck", 1000, 5000, ("pressure",), 0.0)
    >>> f.to_dict()["sensors"], f.end_ms - f.start_ms
    (['pressure'], 4000)
    """

    device_id: str
    device: int
    kind: str
    start_ms: int
    end_ms: int
    sensors: tuple[str, ...]
    magnitude: float

    def to_dict(self) -> dict:
        """JSON-friendly form (used by ``--faults-out``)."""
        d = asdict(self)
        d["sensors"] = list(self.sensors)
        return d


def _duration_ms(kind: str, rng: np.random.Generator, interval_ms: int, run_ms: int) -> int:
    if kind == "spike":
        return int(rng.integers(1, 4)) * interval_ms
    lo, hi = _DURATION_S[kind]
    d = float(rng.uniform(lo, hi)) * 1000.0
    # Short runs (tests, demos) still get faults that fit: at most 20 % of the run,
    # at least a few readings.
    cap = max(4 * interval_ms, int(0.2 * run_ms))
    return int(max(4 * interval_ms, min(d, cap)))


def mean_duration_ms(kinds: tuple[str, ...], interval_ms: int, run_ms: int) -> float:
    """Expected fault duration for a uniform mix of ``kinds`` (used to hit the anomaly rate)."""
    total = 0.0
    cap = max(4 * interval_ms, int(0.2 * run_ms))
    for k in kinds:
        if k == "spike":
            total += 2 * interval_ms
        else:
            lo, hi = _DURATION_S[k]
            total += max(4 * interval_ms, min(0.5 * (lo + hi) * 1000.0, cap))
    return total / len(kinds)


def plan_faults(
    rng: np.random.Generator,
    device_ids: list[str],
    sensors: tuple[str, ...],
    start_ms: int,
    run_ms: int,
    interval_ms: int,
    anomaly_rate: float,
    kinds: tuple[str, ...] = FAULT_KINDS,
    fault_free_ms: int | None = None,
) -> list[Fault]:
    """Plan non-overlapping faults per device so that about ``anomaly_rate`` of the time is faulty.

    Kinds are dealt round-robin from a shuffled order over all faults of the run, so a run with
    at least ``len(kinds)`` faults contains every kind. No fault starts in the first
    ``fault_free_ms`` (default: a tenth of the run, at most 10 min, so detectors see some
    normal history first); when it is given, ``anomaly_rate`` is the faulty fraction of the
    time after it (a clean lead to train on, then a faulty stretch to score).
    """
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {list(FAULT_KINDS)}")
    if anomaly_rate <= 0 or not kinds:
        return []
    if fault_free_ms is not None and not 0 <= fault_free_ms < run_ms:
        raise ValueError(f"fault-free lead {fault_free_ms} ms must be ≥ 0 and shorter than the run ({run_ms} ms)")
    n_dev = len(device_ids)
    faulty_ms = run_ms if fault_free_ms is None else run_ms - fault_free_ms
    expected = anomaly_rate * faulty_ms / mean_duration_ms(kinds, interval_ms, faulty_ms)
    counts = rng.poisson(expected, size=n_dev)
    total = int(counts.sum())
    kind_order = [kinds[i] for i in rng.permutation(len(kinds))]
    deal = rng.permutation(total)  # fault j gets kind kind_order[deal[j] % K]
    faults: list[Fault] = []
    j = 0
    warmup = min(run_ms // 10, 600_000) if fault_free_ms is None else fault_free_ms
    for d in range(n_dev):
        n = int(counts[d])
        if n == 0:
            continue
        slot = (run_ms - warmup) / n
        for i in range(n):
            kind = kind_order[deal[j] % len(kind_order)]
            j += 1
            dur = _duration_ms(kind, rng, interval_ms, faulty_ms)
            dur = int(min(dur, max(interval_ms, slot * 0.8)))
            lo = start_ms + warmup + int(i * slot)
            hi = max(lo, start_ms + warmup + int((i + 1) * slot) - dur)
            t0 = int(rng.integers(lo, hi + 1))
            if kind == "bearing_failure":
                fs = BEARING_SENSORS
                mag = float(rng.uniform(0.5, 1.0))
            else:
                fs = (sensors[int(rng.integers(0, len(sensors)))],)
                sign = 1.0 if rng.random() < 0.5 else -1.0
                if kind == "spike":
                    mag = sign * float(rng.uniform(0.3, 0.6))
                elif kind == "level_shift":
                    mag = sign * float(rng.uniform(0.12, 0.3))
                elif kind == "drift":
                    mag = sign * float(rng.uniform(0.15, 0.35))
                else:
                    mag = 0.0
                if kind == "silence":
                    fs = ()
            faults.append(Fault(device_ids[d], d, kind, t0, t0 + dur, fs, mag))
    faults.sort(key=lambda f: (f.start_ms, f.device))
    return faults


def apply_faults(
    faults: list[Fault],
    ts: np.ndarray,
    values: np.ndarray,
    nominal: np.ndarray,
    sensor_index: dict[str, int],
    labels: np.ndarray,
    kind_codes: np.ndarray,
    keep: np.ndarray,
    state: dict,
) -> None:
    """Apply ``faults`` in place to one chunk.

    Shapes: ``ts`` [D, T] int64, ``values`` [D, T, S], ``nominal`` [D, S] (a sensor's typical
    level, the unit of magnitudes), ``labels``/``kind_codes`` [D, T] int8, ``keep`` [D, T] bool
    (False = reading suppressed by a silence). ``state`` carries what must survive chunk
    borders (a stuck sensor's frozen value, whether a silence was already labelled).
    """
    if not faults:
        return
    c0, c1 = int(ts[:, 0].min()), int(ts[:, -1].max())
    for f in faults:
        if f.kind == "silence":
            # Suppress readings inside; label the first reading after the gap, once.
            if f.start_ms > c1 or ("silence", id(f)) in state:
                continue
            row = ts[f.device]
            keep[f.device, (row >= f.start_ms) & (row < f.end_ms)] = False
            after = np.flatnonzero(row >= f.end_ms)
            if after.size:
                i = int(after[0])
                labels[f.device, i] = 1
                kind_codes[f.device, i] = FAULT_KINDS.index("silence") + 1
                state[("silence", id(f))] = True
            continue
        if f.end_ms <= c0 or f.start_ms > c1:
            continue
        row = ts[f.device]
        code = FAULT_KINDS.index(f.kind) + 1
        inside = (row >= f.start_ms) & (row < f.end_ms)
        if not inside.any():
            continue
        labels[f.device, inside] = 1
        kind_codes[f.device, inside] = code
        idx = np.nonzero(inside)[0]
        if f.kind == "bearing_failure":
            # progress 0 → 1 over the fault, quadratic: a bearing degrades slowly, then fast
            p = ((row[idx] - f.start_ms) / max(1, f.end_ms - f.start_ms)) ** 2 * f.magnitude
            d = f.device
            si = sensor_index
            values[d, idx, si["vibration_rms"]] *= 1.0 + 3.0 * p
            values[d, idx, si["bearing_temp"]] += 25.0 * p
            values[d, idx, si["current"]] *= 1.0 + 0.15 * p
            values[d, idx, si["temperature"]] += 6.0 * p
            continue
        s = sensor_index[f.sensors[0]]
        level = nominal[f.device, s]
        if f.kind in ("spike", "level_shift"):
            values[f.device, idx, s] += f.magnitude * level
        elif f.kind == "drift":
            ramp = (row[idx] - f.start_ms) / max(1, f.end_ms - f.start_ms)
            values[f.device, idx, s] += f.magnitude * level * ramp
        elif f.kind == "stuck":
            key = ("stuck", id(f))
            if key not in state:
                state[key] = float(values[f.device, idx[0], s])
            values[f.device, idx, s] = state[key]

