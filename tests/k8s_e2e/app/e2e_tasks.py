"""The application the end-to-end story runs: one handler whose payload says how long it
works and on which attempts it fails, and which writes down every execution.

Each process appends ``<wall time> start|end|fail <task id> <attempt> <pod>`` lines to a
file of its own under ``SKIPLOCK_E2E_RECORD_DIR`` (set through the chart's
``config.extraEnv``), independent of the engine's own bookkeeping, so the test can count
executions: a task whose handler finished twice, or two executions of one task that
overlap, would show there."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from skiplock import handler

_POD = os.environ.get("SKIPLOCK_INSTANCE_ID", "unknown")
_DIR = os.environ.get("SKIPLOCK_E2E_RECORD_DIR", "")
_FILE = os.path.join(_DIR, f"{_POD}-{os.getpid()}.log") if _DIR else ""


def _record(event: str, task_id: int, attempt: int) -> None:
    if not _FILE:
        return
    # One short line per write with O_APPEND: never interleaved with another writer.
    with open(_FILE, "a", encoding="utf-8") as out:
        out.write(f"{time.time():.6f} {event} {task_id} {attempt} {_POD}\n")


@handler("e2e.work")
async def work(payload: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """``{"seconds": s, "fail_attempts": n}``: works s seconds, fails attempts 1..n."""
    _record("start", ctx.task_id, ctx.attempt)
    await asyncio.sleep(float(payload.get("seconds", 0.05)))
    if ctx.attempt <= int(payload.get("fail_attempts", 0)):
        _record("fail", ctx.task_id, ctx.attempt)
        raise RuntimeError(f"failing attempt {ctx.attempt} on purpose")
    _record("end", ctx.task_id, ctx.attempt)
    return {"pod": _POD, "attempt": ctx.attempt}
