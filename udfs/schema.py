"""Topic names, the reading schema, its fast validator, DLQ records and the alert message.

Validation runs once per record inside Flink, so it is plain code over ``orjson``: no pydantic
per record. Every invalid message raises :class:`InvalidReading` with exactly one ``reason``
from :data:`REASONS` and a human ``detail``.

Range checks, and where an out-of-range value goes:

* :class:`SensorLimits` holds the PHYSICAL range of each sensor (what the instrument can
  report at all). A value outside it is a broken message → DLQ with reason ``out_of_range``.
* Operating limits (what the machine should stay within) live in the job configuration
  (``JobConfig.operating_limits``); a physically possible value outside them is a valid
  reading that raises an ``out_of_range`` ALERT (``udfs.device_state``).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

TOPIC_READINGS = "sensor-readings"
TOPIC_DLQ = "sensor-readings-dlq"
TOPIC_ANOMALIES = "anomalies"
TOPIC_DRIFT = "model-drift"
TOPIC_EVENTS = "vigil-events"
TOPIC_SCORES = "window-scores"

#: The 8 sensors of every simulated device, in canonical column order.
SENSORS: tuple[str, ...] = (
    "temperature", "bearing_temp", "vibration_rms", "pressure", "current", "voltage", "flow", "rpm",
)

#: Every DLQ reason. ``late`` is assigned by the per-device logic, not by :func:`parse_reading`.
REASONS: tuple[str, ...] = (
    "not_utf8", "oversized", "bad_json", "not_object", "missing_device", "bad_device",
    "missing_ts", "bad_ts", "bad_values", "non_numeric", "non_finite", "out_of_range", "late",
)

DEFAULT_MAX_BYTES = 64 * 1024
MAX_DEVICE_LEN = 256
MAX_SENSORS = 1024
# Epoch-ms sanity window: [MIN_TS_MS, MAX_TS_MS) = [1970, 2100). Epoch SECONDS (1.7e9) would
# pass as 1970-01-20, so callers who know their data can raise ``min_ts_ms``.
MIN_TS_MS = 0
MAX_TS_MS = 4_102_444_800_000


class InvalidReading(ValueError):
    """A message that cannot become a :class:`Reading`; ``reason`` is one of :data:`REASONS`."""

    __slots__ = ("reason", "detail")

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Reading:
    """One validated reading. ``values`` maps sensor → float, or None when the sensor dropped out.

    Built by :func:`parse_reading` (which guarantees the invariants: non-empty device, epoch-ms
    time, finite floats); constructing one by hand skips validation.

    >>> Reading("pump-07", 1795442400120, {"rpm": 1500.0, "flow": None}).values["flow"] is None
    True
    """

    device_id: str
    ts_ms: int
    values: dict[str, float | None]


class SensorLimits:
    """Physical range per sensor name; sensors without an entry are not range-checked.

    Assumes ranges are closed intervals ``[lo, hi]``; fails (ValueError) on ``lo > hi``.

    >>> lim = SensorLimits({"rpm": (0.0, 20000.0)})
    >>> lim.violation("rpm", -5.0)
    'rpm=-5.0 outside physical range [0.0, 20000.0]'
    >>> lim.violation("rpm", 1500.0) is None and lim.violation("other", 1e9) is None
    True
    """

    __slots__ = ("ranges",)

    def __init__(self, ranges: dict[str, tuple[float, float]]) -> None:
        for name, (lo, hi) in ranges.items():
            if lo > hi:
                raise ValueError(f"limits for {name!r}: lo {lo} > hi {hi}")
        self.ranges = {k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()}

    def violation(self, sensor: str, value: float) -> str | None:
        """Return a detail string when ``value`` is outside the range of ``sensor``, else None."""
        r = self.ranges.get(sensor)
        if r is None or r[0] <= value <= r[1]:
            return None
        return f"{sensor}={value!r} outside physical range [{r[0]}, {r[1]}]"

    def to_dict(self) -> dict[str, list[float]]:
        return {k: [lo, hi] for k, (lo, hi) in self.ranges.items()}


#: Physical ranges for the simulator's sensors (generous: instrument limits, not operating limits).
DEFAULT_LIMITS = SensorLimits({
    "temperature": (-60.0, 400.0),     # °C
    "bearing_temp": (-60.0, 400.0),    # °C
    "vibration_rms": (0.0, 200.0),     # mm/s
    "pressure": (-1.0, 1000.0),        # bar (gauge)
    "current": (-5000.0, 5000.0),      # A
    "voltage": (-2000.0, 20000.0),     # V
    "flow": (-1.0e5, 1.0e5),           # m³/h
    "rpm": (0.0, 100000.0),
})


class _NonFinite(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFinite(name)


def _diagnose_json(raw: bytes, err: Exception) -> InvalidReading:
    """Slow path, only for messages orjson rejected: name the real reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return InvalidReading("not_utf8", f"byte {e.start}: {e.reason}")
    import json

    try:
        json.loads(text, parse_constant=_reject_constant)
    except _NonFinite as e:
        return InvalidReading("non_finite", f"JSON token {e.args[0]} is not a finite number")
    except Exception:  # noqa: BLE001 - any stdlib failure confirms orjson's verdict
        pass
    return InvalidReading("bad_json", str(err)[:200])


_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_iso_ms(s: str) -> int | None:
    """Epoch ms of an ISO-8601 date-time in the grammar readings may use, or None.

    Grammar: ``YYYY-MM-DD``, optionally followed by ``T``, ``t`` or a space and
    ``HH:MM[:SS[(.|,)F{1,9}]]``, then an optional offset ``Z``, ``z``, ``±HH``, ``±HHMM`` or
    ``±HH:MM`` (none = UTC). The fraction is rounded to the nearest millisecond, halves to even,
    in integers. The JVM parser (``vigil.flink.schema.IsoTime``) implements the same grammar.

    >>> parse_iso_ms("2026-11-23T14:00:00.120Z"), parse_iso_ms("2026-11-23 15:00:00.1205+01:00")
    (1795442400120, 1795442400120)
    >>> parse_iso_ms("2026-02-30"), parse_iso_ms("2026-11-23T14")
    (None, None)
    """
    m = _ISO.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, z, sign, oh, om = m.groups()
    try:
        day = date(int(y), int(mo), int(d))
    except ValueError:
        return None
    ms = (day.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    if hh is None:
        return ms
    h, mnt, sec = int(hh), int(mi), int(ss or 0)
    if h > 23 or mnt > 59 or sec > 59:
        return None
    ms += h * 3_600_000 + mnt * 60_000 + sec * 1000
    if frac:
        ns = int(frac.ljust(9, "0"))
        whole, rem = divmod(ns, 1_000_000)
        if rem > 500_000 or (rem == 500_000 and whole % 2 == 1):
            whole += 1
        ms += whole
    if sign:
        off_h, off_m = int(oh), int(om or 0)
        if off_h > 23 or off_m > 59:
            return None
        off = off_h * 3_600_000 + off_m * 60_000
        ms += -off if sign == "+" else off
    return ms


def parse_ts(ts: Any, min_ts_ms: int = 0) -> int:
    """Epoch ms from an ISO-8601 string (:func:`parse_iso_ms`) or an epoch-ms number (a float
    is rounded, halves to even).

    >>> parse_ts("2026-11-23T14:00:00.120Z"), parse_ts(1795442400120)
    (1795442400120, 1795442400120)
    >>> parse_ts("yesterday")
    Traceback (most recent call last):
    ...
    udfs.schema.InvalidReading: bad_ts: unparseable time 'yesterday'
    """
    if ts is None:
        raise InvalidReading("missing_ts", "field 'ts' is missing or null")
    t = type(ts)
    if t is int:
        ms = ts
    elif t is float:
        if not math.isfinite(ts):
            raise InvalidReading("bad_ts", f"non-finite time {ts!r}")
        ms = int(round(ts))
    elif t is str:
        if not ts or len(ts) > 64:
            raise InvalidReading("bad_ts", f"unparseable time {ts[:64]!r}")
        parsed = parse_iso_ms(ts)
        if parsed is None:
            raise InvalidReading("bad_ts", f"unparseable time {ts[:64]!r}")
        ms = parsed
    else:
        raise InvalidReading("bad_ts", f"time must be an ISO-8601 string or epoch ms, got {t.__name__}")
    if not (min_ts_ms <= ms < MAX_TS_MS):
        raise InvalidReading("bad_ts", f"time {ms} ms outside [{min_ts_ms}, {MAX_TS_MS})")
    return ms


#: General categories a device id may not contain (besides U+0020, the ASCII space).
_NOT_IN_IDS = frozenset(("Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Zs"))


def valid_device_id(dev: str) -> bool:
    """1..256 code points, not only spaces, none of the general categories Cc, Cf, Cs, Co, Zl,
    Zp or Zs other than U+0020. Unassigned code points are allowed (``str.isprintable`` would
    refuse them, which ties the rule to the Unicode version; the JVM parser,
    ``vigil.flink.schema.DeviceIds``, follows this rule too).

    >>> valid_device_id("pump 07"), valid_device_id("   "), valid_device_id("a\u200bb"), valid_device_id("\U000e0fff")
    (True, False, False, True)
    """
    if not dev or len(dev) > MAX_DEVICE_LEN or dev.count(" ") == len(dev):
        return False
    if dev.isprintable():  # fast path: isprintable refuses a superset of what this rule refuses
        return True
    return all(c == " " or unicodedata.category(c) not in _NOT_IN_IDS for c in dev)


def parse_reading(
    raw: bytes,
    limits: SensorLimits | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_ts_ms: int = MIN_TS_MS,
) -> Reading:
    """Validate one ``sensor-readings`` message; raise :class:`InvalidReading` on any defect.

    Accepts ``bytes`` (or ``str``, encoded as UTF-8). ``limits=None`` checks no ranges.
    Booleans are not numbers. ``values`` must be an object (may be empty); each value is a
    finite int/float or null. Unknown top-level fields are ignored.

    >>> r = parse_reading(b'{"device_id": "pump-07", "ts": "2026-11-23T14:00:00.120Z",'
    ...                   b' "values": {"temperature": 71.2, "pressure": null}}', DEFAULT_LIMITS)
    >>> r.device_id, r.ts_ms, r.values
    ('pump-07', 1795442400120, {'temperature': 71.2, 'pressure': None})
    >>> try:
    ...     parse_reading(b'{"device_id": "p", "ts": 1, "values": {"rpm": NaN}}')
    ... except InvalidReading as e:
    ...     print(e.reason)
    non_finite
    """
    if type(raw) is str:
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise InvalidReading("oversized", f"{len(raw)} bytes > limit {max_bytes}")
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise _diagnose_json(raw, e) from None
    if type(msg) is not dict:
        raise InvalidReading("not_object", f"top level is {type(msg).__name__}, expected object")

    dev = msg.get("device_id")
    if dev is None:
        raise InvalidReading("missing_device", "field 'device_id' is missing or null")
    if type(dev) is not str:
        raise InvalidReading("bad_device", f"device_id must be a string, got {type(dev).__name__}")
    if not valid_device_id(dev):
        raise InvalidReading("bad_device", f"device_id must be 1..{MAX_DEVICE_LEN} printable characters")

    ts_ms = parse_ts(msg.get("ts"), min_ts_ms)

    vals = msg.get("values")
    if type(vals) is not dict:
        got = "missing" if vals is None else type(vals).__name__
        raise InvalidReading("bad_values", f"'values' must be an object, got {got}")
    if len(vals) > MAX_SENSORS:
        raise InvalidReading("bad_values", f"{len(vals)} sensors > limit {MAX_SENSORS}")
    if "" in vals:
        raise InvalidReading("bad_values", "empty sensor name")
    ranges = limits.ranges if limits is not None else None
    ints: list[str] | None = None
    # The dict came from orjson and is ours: validate in place, convert ints afterwards.
    for name, v in vals.items():
        t = type(v)
        if t is float:
            if v - v != 0.0:  # NaN or ±inf (orjson never yields them; the check is for str input)
                raise InvalidReading("non_finite", f"{name}={v!r}")
        elif t is int:
            if ints is None:
                ints = []
            ints.append(name)
            v = float(v)
            if v - v != 0.0:  # ints beyond float range overflow to inf
                raise InvalidReading("non_finite", f"{name} integer too large")
        elif v is None:
            continue
        else:
            raise InvalidReading("non_numeric", f"{name} must be a number or null, got {t.__name__}")
        if ranges is not None:
            r = ranges.get(name)
            if r is not None and not (r[0] <= v <= r[1]):
                raise InvalidReading("out_of_range", f"{name}={v!r} outside physical range [{r[0]}, {r[1]}]")
    if ints:
        for name in ints:
            vals[name] = float(vals[name])
    out: dict[str, float | None] = vals
    return Reading(dev, ts_ms, out)


def iso_ms(ms: int) -> str:
    """Epoch ms → ``2026-11-23T14:00:00.120Z``.

    >>> iso_ms(1795442400120)
    '2026-11-23T14:00:00.120Z'
    """
    dt = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


_RAW_LIMIT = 256 * 1024


def dlq_record(
    reason: str,
    detail: str,
    raw: bytes,
    topic: str = TOPIC_READINGS,
    partition: int | None = None,
    offset: int | None = None,
    received_at_ms: int | None = None,
) -> dict[str, Any]:
    """DESIGN's DLQ message. ``raw`` is kept as text when it is UTF-8, else base64
    (``raw_encoding`` says which); payloads over 256 KiB are truncated (``raw_truncated``).

    >>> d = dlq_record("bad_json", "x", b"{oops", "sensor-readings", 0, 42, 0)
    >>> d["reason"], d["raw"], d["raw_encoding"], d["offset"], d["received_at"]
    ('bad_json', '{oops', 'utf8', 42, '1970-01-01T00:00:00.000Z')
    """
    if reason not in REASONS:
        raise ValueError(f"unknown DLQ reason {reason!r}")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    truncated = len(raw) > _RAW_LIMIT
    body = raw[:_RAW_LIMIT]
    try:
        text, enc = body.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        text, enc = base64.b64encode(body).decode("ascii"), "base64"
    if received_at_ms is None:
        import time

        received_at_ms = int(time.time() * 1000)
    return {
        "reason": reason, "detail": detail, "raw": text, "raw_encoding": enc,
        "raw_truncated": truncated, "topic": topic, "partition": partition, "offset": offset,
        "received_at": iso_ms(received_at_ms),
    }


AlertKind = Literal["anomaly", "stream_silent", "sensor_stuck", "out_of_range"]
ALERT_KINDS: tuple[str, ...] = ("anomaly", "stream_silent", "sensor_stuck", "out_of_range")


def make_alert_id(
    device_id: str, window_end_ms: int, kind: str, model_version: str, sensor: str | None = None
) -> str:
    """Deterministic alert id: the same (device, window end, kind, model version[, sensor])
    always gives the same id, so replays and retries deduplicate. Stream-level alerts
    (``stream_silent``, ``sensor_stuck``, ``out_of_range``) pass their sensor so two sensors
    stuck at once get two ids, and model_version ``"-"`` (they do not depend on the model).

    >>> make_alert_id("pump-07", 1000, "anomaly", "v1") == make_alert_id("pump-07", 1000, "anomaly", "v1")
    True
    >>> len(make_alert_id("pump-07", 1000, "anomaly", "v1"))
    32
    """
    key = f"{device_id}\x1f{int(window_end_ms)}\x1f{kind}\x1f{model_version}"
    if sensor:
        key += f"\x1f{sensor}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class ModelRef(BaseModel):
    name: str
    version: str


class TopFeature(BaseModel):
    feature: str
    contribution: float


class Alert(BaseModel):
    """One ``anomalies`` message. An alert is an entity that OPENS and later CLOSES: both events
    carry the same ``alert_id`` (that of the opening window) and differ in ``status``;
    ``event_id`` = ``alert_id:status`` is unique per message, so consumers deduplicate on
    ``event_id`` and upsert on ``alert_id``. Times are ISO-8601 UTC strings.

    >>> a = Alert(alert_id="x", device_id="pump-07", kind="anomaly", severity="warning",
    ...           window_start="2026-11-23T14:00:00.000Z", window_end="2026-11-23T14:01:00.000Z",
    ...           detected_at="2026-11-23T14:01:00.050Z", score=0.9, threshold=0.7,
    ...           model=ModelRef(name="iforest", version="v1"))
    >>> a.status, a.event_id
    ('open', 'x:open')
    >>> Alert.model_validate_json(a.to_json()) == a
    True
    """

    model_config = ConfigDict(extra="ignore")

    alert_id: str
    device_id: str
    kind: AlertKind
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "closed"] = "open"
    window_start: str
    window_end: str
    detected_at: str
    opened_at: str | None = None  # window_end of the opening window (= window_end when open)
    closed_at: str | None = None  # window end at which the condition cleared (status closed)
    score: float | None = None
    threshold: float | None = None
    model: ModelRef | None = None
    top_features: list[TopFeature] = Field(default_factory=list)
    imputed_fraction: float = 0.0
    sensor: str | None = None  # for stream-level kinds
    detail: str = ""

    @property
    def event_id(self) -> str:
        return f"{self.alert_id}:{self.status}"

    def to_json(self) -> bytes:
        """Compact JSON bytes for Kafka (``event_id`` included)."""
        d = self.model_dump(mode="json")
        d["event_id"] = self.event_id
        return orjson.dumps(d)
