"""A TaskQueue's schedules end to end (kopf on kmock, a real engine): created, corrected,
changed and removed with the resource, the engine's refusal reported on the schedule and
in Ready, and schedules made by other means never touched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.skiplock_operator.cluster import (
    FAST,
    RunOperator,
    StartEngine,
    assert_valid_status,
    condition,
    given_cluster,
    patch,
    status,
    tq_path,
)
from tests.skiplock_operator.conftest import Emulator, Engine, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PREFIX = "k8s:default:queue:"


async def engine_schedules(engine: Engine) -> dict[str, dict[str, Any]]:
    async with engine.client() as client:
        response = await client.get("/api/schedules")
        assert response.status_code == 200, response.text
        return {s["name"]: s for s in response.json()["items"]}


async def test_declared_schedules_follow_the_taskqueue_and_others_are_left_alone(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    async with engine.client() as client:
        manual = {"name": "manual", "type": "noop", "every_s": 3600}
        assert (await client.post("/api/schedules", json=manual)).status_code == 201
        # Under the prefix of another TaskQueue: not this one's either.
        other = {"name": "k8s:default:queue-2:ping", "type": "noop", "every_s": 3600}
        assert (await client.post("/api/schedules", json=other)).status_code == 201
    schedules = {
        "ping": {"type": "noop", "everySeconds": 60, "payload": {"n": 1}},
        "nightly": {"type": "noop", "cron": "0 3 * * *", "timezone": "Europe/Berlin"},
        "bad": {"type": "noop", "cron": "61 * * * *"},
    }
    await given_cluster(
        k8s, engine, replicas=1, autoscaling={**FAST, "enabled": False}, schedules=schedules
    )
    await run_operator()

    async def created() -> bool:
        have = await engine_schedules(engine)
        return {PREFIX + "ping", PREFIX + "nightly"} <= set(have)

    await eventually(created, message="the declared schedules exist in the engine")
    have = await engine_schedules(engine)
    assert have[PREFIX + "ping"]["every_s"] == 60
    assert have[PREFIX + "ping"]["payload"] == {"n": 1}
    assert have[PREFIX + "nightly"]["timezone"] == "Europe/Berlin"
    assert PREFIX + "bad" not in have

    ready = await eventually(
        lambda: (
            condition(k8s, "Ready").get("reason") == "ScheduleSyncFailed"
            and condition(k8s, "Ready")
        )
    )
    assert ready["status"] == "False"
    assert "schedule bad" in ready["message"]
    assert "cron" in ready["message"]
    await eventually(lambda: (status(k8s).get("schedules") or {}).get("ping", {}).get("nextRunAt"))
    reported = status(k8s)["schedules"]
    assert reported["ping"]["name"] == PREFIX + "ping"
    assert reported["ping"]["nextRunAt"] == have[PREFIX + "ping"]["next_run_at"]
    assert reported["nightly"]["nextRunAt"] == have[PREFIX + "nightly"]["next_run_at"]
    assert reported["bad"].get("nextRunAt") is None  # null in a merge patch: absent
    assert "cron" in reported["bad"]["error"]
    assert_valid_status(k8s)

    # A pause made elsewhere is undone: the TaskQueue is the source of truth.
    async with engine.client() as client:
        r = await client.post(f"/api/schedules/{PREFIX}ping/pause")
        assert r.status_code == 200, r.text

    async def resumed() -> bool:
        return bool((await engine_schedules(engine))[PREFIX + "ping"]["enabled"])

    await eventually(resumed, message="the operator resumes the paused schedule")

    # Change one, remove two: the engine follows; Ready recovers.
    await patch(
        k8s,
        tq_path("queue"),
        {"spec": {"schedules": {"nightly": None, "bad": None, "ping": {"everySeconds": 30}}}},
    )

    async def changed() -> bool:
        have = await engine_schedules(engine)
        return PREFIX + "nightly" not in have and have[PREFIX + "ping"]["every_s"] == 30

    await eventually(changed, message="the engine follows the changed spec")
    await eventually(lambda: condition(k8s, "Ready").get("status") == "True")
    await eventually(lambda: set(status(k8s).get("schedules") or {}) == {"ping"})
    assert_valid_status(k8s)

    # Deleting the TaskQueue removes its schedules, and only its own.
    async with k8s.request("delete", tq_path("queue")) as response:
        assert response.status == 200

    async def removed() -> bool:
        return not any(n.startswith(PREFIX) for n in await engine_schedules(engine))

    await eventually(removed, message="the TaskQueue's schedules go with it")
    assert {"manual", "k8s:default:queue-2:ping"} <= set(await engine_schedules(engine))
