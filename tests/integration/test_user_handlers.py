"""User handler modules load through SKIPLOCK_HANDLERS, with ctx when they ask for it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.processes import EngineProcess

MODULE = """
from skiplock import handler

@handler("double")
def double(payload, ctx):
    return {"value": payload["n"] * 2, "task": ctx.task_id, "attempt": ctx.attempt,
            "tenant": ctx.tenant, "type": ctx.type}

@handler("shout")
async def shout(payload):
    return payload["text"].upper()
"""


def test_handlers_from_a_user_module_run_with_their_context(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "myapp_tasks.py").write_text(MODULE)
    env = {
        "SKIPLOCK_HANDLERS": "myapp_tasks",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    engine = EngineProcess(sqlite_url, env=env, log_path=tmp_path / "engine.log").start()
    try:
        with engine.client() as c:
            a = c.post("/api/tasks", json={"type": "double", "payload": {"n": 21}}).json()
            b = c.post("/api/tasks", json={"type": "shout", "payload": {"text": "hi"}}).json()
            deadline = time.monotonic() + 20
            results: dict[int, httpx.Response] = {}
            while time.monotonic() < deadline and len(results) < 2:
                for t in (a, b):
                    r = c.get(f"/api/tasks/{t['id']}")
                    if r.json()["state"] == "succeeded":
                        results[t["id"]] = r
                time.sleep(0.05)
    finally:
        engine.kill()
    assert results[a["id"]].json()["result"] == {
        "value": 42,
        "task": a["id"],
        "attempt": 1,
        "tenant": "default",
        "type": "double",
    }
    assert results[b["id"]].json()["result"] == "HI"
