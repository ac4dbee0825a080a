"""The handlers of this application: ``SKIPLOCK_HANDLERS=myapp.tasks`` on the workers.

A worker that imports this module announces ``myapp.greet`` (with the options below) to
the database; the API then accepts submissions of that type on every api pod, which
never imports this module."""

from __future__ import annotations

from typing import Any

from skiplock import HandlerContext, handler


@handler("myapp.greet", max_attempts=5, timeout_s=30)
def greet(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """``{"name": "Ada"}`` → ``{"greeting": "Hello, Ada!", ...}``."""
    name = str(payload.get("name", "world"))
    return {"greeting": f"Hello, {name}!", "task": ctx.task_id, "attempt": ctx.attempt}
