"""The handler the ``chaos`` benchmark runs (``SKIPLOCK_HANDLERS=bench.chaos_handlers``).

``chaos_record`` sleeps ``payload["ms"]`` milliseconds and records its execution: a start
line before and an end line after, appended with one ``os.write`` each to a per-process
file in ``SKIPLOCK_CHAOS_DIR``. An ``O_APPEND`` write is in the kernel when it returns,
so a start line survives the ``kill -9`` that interrupts the execution."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from skiplock import handler
from skiplock.handlers import HandlerContext

_fds: dict[int, int] = {}


def _write(record: dict[str, Any]) -> None:
    pid = os.getpid()
    fd = _fds.get(pid)
    if fd is None:
        folder = os.environ.get("SKIPLOCK_CHAOS_DIR", ".")
        path = os.path.join(folder, f"exec-{pid}.jsonl")
        fd = _fds[pid] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())


@handler("chaos_record")
async def chaos_record(payload: Any, ctx: HandlerContext) -> dict[str, Any]:
    ms = float(payload.get("ms", 100)) if isinstance(payload, dict) else 100.0
    base = {"task": ctx.task_id, "attempt": ctx.attempt, "pid": os.getpid()}
    _write({**base, "ev": "start", "t": time.time()})
    await asyncio.sleep(ms / 1000)
    _write({**base, "ev": "end", "t": time.time()})
    return {"ms": ms}
