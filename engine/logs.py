"""Logging: readable lines by default, JSON with ``SKIPLOCK_LOG_JSON=true``. Lines about a
task carry its ``task_id``, ``tenant``, ``type`` and ``attempt`` (passed as ``extra``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TASK_FIELDS = ("task_id", "tenant", "type", "attempt")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in TASK_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{n}={getattr(record, n)}" for n in TASK_FIELDS if hasattr(record, n)]
        return f"{line} [{' '.join(fields)}]" if fields else line


def configure(*, json_lines: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
