"""A TaskQueue's tenants end to end (kopf on kmock, a real engine): depth scoped to the
tenants it names, the earlier of two TaskQueues keeping a shared tenant, and which key
each request carries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.skiplock_operator.cluster import (
    DEPLOYMENTS_PATH,
    FAST,
    SECRETS_PATH,
    RunOperator,
    StartEngine,
    assert_valid_status,
    condition,
    create,
    engine_tenant,
    events,
    field_is,
    more_passes,
    patch,
    replicas,
    status,
    submit,
    tenants,
    tq_path,
)
from tests.skiplock_operator.conftest import (
    Emulator,
    admin_secret,
    b64,
    deployment,
    eventually,
    taskqueue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


# --- item: depth of the named tenants; conflicts --------------------------------------


async def test_each_taskqueue_scales_on_its_own_tenants_and_the_earlier_one_keeps_a_shared_tenant(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    await tenants(engine, "acme", "globex", "other")
    await submit(engine, "acme", 40)
    await submit(engine, "globex", 20)
    await submit(engine, "other", 100)
    await create(
        k8s, SECRETS_PATH, admin_secret("skiplock", engine.admin_key, reader=engine.reader_key)
    )
    auto = {**FAST, "minReplicas": 1, "maxReplicas": 20, "targetTasksPerReplica": 10}
    queues = {
        "first": ("2026-01-01T00:00:00Z", {"acme": {"weight": 3}}),
        "second": (
            "2026-02-01T00:00:00Z",
            {"acme": {"weight": 7, "state": "Paused"}, "globex": {}},
        ),
        "whole": ("2026-03-01T00:00:00Z", None),  # no tenants: the whole engine's depth
    }
    for name, (created, named) in queues.items():
        await create(k8s, DEPLOYMENTS_PATH, deployment(f"worker-{name}", 1))
        spec: dict[str, Any] = {"autoscaling": auto}
        if named:
            spec["tenants"] = named
        body = taskqueue(
            name,
            worker=f"worker-{name}",
            engine_url=engine.url,
            secret="skiplock",
            created=created,
            **spec,
        )
        await create(k8s, tq_path(), body)
    await run_operator()

    await eventually(lambda: replicas(k8s, "worker-first") == 4, message="first: acme's 40")
    await eventually(lambda: replicas(k8s, "worker-second") == 2, message="second: globex's 20")
    await eventually(lambda: replicas(k8s, "worker-whole") == 16, message="whole: all 160")
    assert status(k8s, "first")["queued"] == 40
    assert status(k8s, "second")["queued"] == 20
    conflict = await eventually(
        lambda: (
            condition(k8s, "Conflict", "second").get("status") == "True"
            and condition(k8s, "Conflict", "second")
        )
    )
    assert conflict["reason"] == "TenantClaimed"
    assert "acme (by TaskQueue default/first)" in conflict["message"]
    assert condition(k8s, "Ready", "second")["reason"] == "TenantConflict"
    assert condition(k8s, "Conflict", "first")["status"] == "False"
    assert condition(k8s, "Conflict", "whole")["status"] == "False"

    # Several passes later the tenant is still as the earlier TaskQueue wants it.
    await more_passes(k8s, "second", 3)
    acme = await engine_tenant(engine, "acme")
    assert (acme["weight"], acme["state"]) == (3, "active")
    updates = [e["message"] for e in events(k8s, "TenantUpdated") if "tenant acme" in e["message"]]
    assert updates and all("weight=3" in m for m in updates), updates
    for name in queues:
        assert_valid_status(k8s, name)

    # The earlier claim goes away: the later TaskQueue takes the tenant over.
    async with k8s.request("delete", tq_path("first")) as response:
        assert response.status == 200
    await eventually(
        lambda: field_is(engine_tenant(engine, "acme"), "state", "paused"),
        message="second applies acme",
    )
    assert (await engine_tenant(engine, "acme"))["weight"] == 7
    await eventually(lambda: condition(k8s, "Conflict", "second").get("status") == "False")


async def test_reads_use_the_reader_key_and_only_tenant_changes_use_the_admin_key(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    await tenants(engine, "acme")
    await submit(engine, "acme", 25)
    await create(k8s, SECRETS_PATH, admin_secret("skiplock", None, reader=engine.reader_key))
    await create(k8s, DEPLOYMENTS_PATH, deployment("worker", 1))
    auto = {**FAST, "minReplicas": 1, "maxReplicas": 5, "targetTasksPerReplica": 10}
    body = taskqueue(
        "queue",
        worker="worker",
        engine_url=engine.url,
        secret="skiplock",
        autoscaling=auto,
        tenants={"acme": {"weight": 4}},
    )
    await create(k8s, tq_path(), body)
    await run_operator()

    # The reader key alone reads the tenants and the stats and scales; it changes nothing.
    await eventually(lambda: replicas(k8s) == 3, message="scaled on stats read with the reader key")
    failed = await eventually(
        lambda: (
            condition(k8s, "Ready").get("reason") == "TenantSyncFailed" and condition(k8s, "Ready")
        )
    )
    assert "admin-key" in failed["message"]
    assert (await engine_tenant(engine, "acme"))["weight"] == 1

    # With the admin key in the Secret, the tenant is applied.
    await patch(k8s, f"{SECRETS_PATH}/skiplock", {"data": {"admin-key": b64(engine.admin_key)}})
    await eventually(
        lambda: field_is(engine_tenant(engine, "acme"), "weight", 4), message="acme applied"
    )
    await eventually(lambda: condition(k8s, "Ready").get("status") == "True")

    # Without a reader key, the operator reads with the admin key (older installs).
    await patch(k8s, f"{SECRETS_PATH}/skiplock", {"data": {"reader-key": None}})
    await submit(engine, "acme", 10)
    await eventually(
        lambda: status(k8s).get("queued") == 35, message="stats read with the admin key"
    )
    assert condition(k8s, "Ready")["status"] == "True"
