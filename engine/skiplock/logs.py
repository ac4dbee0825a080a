"""Logging: readable lines by default, JSON with ``SKIPLOCK_LOG_JSON=true``. Lines about a
task carry its ``task_id``, ``tenant``, ``type`` and ``attempt`` (passed as ``extra``).

In the text format a record is one line: messages and fields come from tenants (a
handler's error repeats its payload), so control characters in them are escaped
(``\\n``, ``\\r``, ``\\x1b``) and cannot start a forged line or drive a terminal.
A traceback follows on continuation lines that each start with whitespace, so a line
that starts at column 0 always begins a record."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

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


# Every C0 control character but tab, and DEL, as a visible escape.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09}
_ESCAPES.update({0x0A: "\\n", 0x0D: "\\r"})


def one_line(text: str) -> str:
    """``text`` with its control characters (newlines first of all) escaped."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = one_line(super().formatMessage(record))
        fields = [f"{n}={getattr(record, n)}" for n in TASK_FIELDS if hasattr(record, n)]
        return f"{line} [{one_line(' '.join(fields))}]" if fields else line

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return _continuation(super().formatStack(stack_info))


def _continuation(text: str) -> str:
    """Each line indented, carriage returns and escapes escaped: a traceback can never
    hold a line that looks like a record's first."""
    return "\n".join("    " + one_line(line) for line in text.split("\n"))


def configure(*, json_lines: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class OutageLog:
    """Logs an outage's first failure, then at most one line per ``every_s`` with the
    count in between: while a dependency is down every request fails the same way, and
    a line per request would flood the log."""

    def __init__(self, logger: logging.Logger, *, every_s: float = 10.0) -> None:
        self._log = logger
        self._every_s = every_s
        self._next_at = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next_at:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" (and {self._suppressed} more like it)"
        self._log.warning(message, *args)
        self._next_at, self._suppressed = now + self._every_s, 0
