"""Structured (JSON-lines) logging for `vigil sidecar`, quiet (WARNING) by default."""

from __future__ import annotations

import json
import logging
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (+ exc when present)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def log_config(level: str = "warning") -> dict:
    """A `logging.config.dictConfig` dict for uvicorn and the vigil loggers."""
    lvl = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            **{name: {"handlers": ["default"], "level": lvl, "propagate": False}
               for name in ("uvicorn", "uvicorn.error", "vigil")},
            # kafka-python logs every reconnect attempt; outages are reported by /readyz + metrics
            "kafka": {"handlers": ["default"], "level": lvl if lvl in ("DEBUG", "INFO") else "ERROR",
                      "propagate": False},
        },
        "root": {"handlers": ["default"], "level": lvl},
    }
