"""`vigil labels export`: operator labels from Redis → CSV or JSONL for training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import redis

from sidecar.settings import SidecarSettings
from sidecar.store import Keys

COLUMNS = ["alert_id", "device_id", "kind", "window_start", "window_end", "score", "threshold",
           "model_name", "model_version", "label", "by", "note", "labelled_at_ms"]


def export_labels(out: Path, fmt: str = "auto", settings: SidecarSettings | None = None) -> int:
    """Write all labels (sorted by label time); returns the count. `fmt`: csv, jsonl or auto."""
    s = settings or SidecarSettings()
    if fmt == "auto":
        fmt = "jsonl" if out.suffix in (".jsonl", ".json") else "csv"
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be csv or jsonl, got {fmt!r}")
    r = redis.Redis.from_url(s.redis_url, socket_timeout=10)
    rows = sorted((json.loads(v) for v in r.hgetall(Keys(s.key_prefix).labels).values()),
                  key=lambda x: (x.get("labelled_at_ms") or 0, x["alert_id"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        if fmt == "jsonl":
            for row in rows:
                f.write(json.dumps(row) + "\n")
        else:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for row in rows:
                model = row.get("model") or {}
                w.writerow({**{k: row.get(k) for k in COLUMNS if k in row},
                            "model_name": model.get("name"), "model_version": model.get("version")})
    return len(rows)
