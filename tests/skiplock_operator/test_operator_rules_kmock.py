"""What a TaskQueue may and may not make the operator do, end to end: kopf with the real
handlers against kmock, a real ``skiplock serve`` (MariaDB and Redis where several
instances must share a registry), and the engine's real answers parsed by the operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from skiplock import keys
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
    more_passes,
    patch,
    replica_history,
    replicas,
    submit,
    tenants,
    tq_path,
)
from tests.skiplock_operator.conftest import (
    NAMESPACE,
    Emulator,
    admin_secret,
    deployment,
    eventually,
    free_port,
    taskqueue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def pod(name: str, app: str = "worker") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": app}},
    }


# --- item: pod-deletion-cost ----------------------------------------------------------


async def test_a_scale_down_first_marks_idle_worker_pods_cheapest_to_delete(
    k8s: Emulator,
    start_engine: StartEngine,
    run_operator: RunOperator,
    mysql_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    admin, reader = keys.generate()[0], keys.generate()[0]
    shared: dict[str, Any] = {
        "database_url": mysql_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "admin_key": admin,
        "reader_key": reader,
        "workers": 2,
        "extra": {"SKIPLOCK_SHUTDOWN_GRACE_S": "0"},
    }
    # Instance ids are "<pod name>:<suffix>", as the chart's downward API makes them.
    busy = await start_engine(role="all", instance_id="worker-busy", **shared)
    await submit(busy, "default", 1, type="async_sleep", payload={"seconds": 120})

    async def workers() -> dict[str, int]:
        async with busy.client(reader) as client:
            body = (await client.get("/api/workers")).json()
        return {i["id"].rpartition(":")[0]: i["busy"] for i in body["instances"]}

    await eventually(lambda: _has(workers(), {"worker-busy": 1}), message="the task runs")
    await start_engine(role="worker", instance_id="worker-idle", **shared)
    await eventually(lambda: _has(workers(), {"worker-idle": 0}), message="an idle worker")

    await create(k8s, DEPLOYMENTS_PATH, deployment("worker", 3))
    for name, app in [
        ("worker-busy", "worker"),
        ("worker-idle", "worker"),
        ("worker-new", "worker"),
        ("api-0", "api"),
    ]:
        await create(k8s, f"/api/v1/namespaces/{NAMESPACE}/pods", pod(name, app))
    await create(k8s, SECRETS_PATH, admin_secret("skiplock", admin, reader=reader))
    auto = {**FAST, "minReplicas": 1, "maxReplicas": 3, "targetTasksPerReplica": 10}
    body = taskqueue(
        "queue", worker="worker", engine_url=busy.url, secret="skiplock", autoscaling=auto
    )
    await create(k8s, tq_path(), body)
    await run_operator()

    await eventually(lambda: replicas(k8s) == 1, message="scale down to what the task needs")
    (first_down, *_) = [p for p in k8s.scale_patches if p["body"]["spec"]["replicas"] < 3]
    cost = "controller.kubernetes.io/pod-deletion-cost"
    at_scale = {name: a.get(cost) for name, a in first_down["pods"].items()}
    assert at_scale == {"worker-busy": "1", "worker-idle": "0", "worker-new": "0", "api-0": None}
    async with busy.client() as client:
        await client.post("/api/tasks/bulk/cancel", json={"filter": {"state": ["running"]}})


async def _has(found: Any, wanted: dict[str, int]) -> bool:
    seen = await found
    return all(seen.get(k) == v for k, v in wanted.items())


# --- item: bad input stays clear --------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "reason", "named"),
    [
        ("unknown-deployment", "WorkerDeploymentMissing", "ghost-workers"),
        ("min-over-max", "InvalidSpec", "minReplicas must not exceed maxReplicas"),
        ("unknown-tenant", "TenantNotFound", "ghost"),
    ],
)
async def test_bad_input_gets_a_condition_naming_it_and_changes_nothing(
    k8s: Emulator,
    start_engine: StartEngine,
    run_operator: RunOperator,
    problem: str,
    reason: str,
    named: str,
) -> None:
    engine = await start_engine(role="api")
    await tenants(engine, "acme")
    await submit(engine, "acme", 50)  # any scaling pass would ask for 5 workers
    await create(k8s, DEPLOYMENTS_PATH, deployment("worker", 1))
    await create(
        k8s, SECRETS_PATH, admin_secret("skiplock", engine.admin_key, reader=engine.reader_key)
    )
    auto: dict[str, Any] = {
        **FAST,
        "minReplicas": 1,
        "maxReplicas": 10,
        "targetTasksPerReplica": 10,
    }
    named_tenants: dict[str, Any] = {"acme": {"weight": 5, "state": "Paused"}}
    worker = "worker"
    if problem == "unknown-deployment":
        worker = "ghost-workers"
    elif problem == "min-over-max":
        auto = {**auto, "minReplicas": 5, "maxReplicas": 2}
    else:
        named_tenants["ghost"] = {}
    body = taskqueue(
        "queue",
        worker=worker,
        engine_url=engine.url,
        secret="skiplock",
        autoscaling=auto,
        tenants=named_tenants,
    )
    await create(k8s, tq_path(), body)
    await run_operator()

    ready = await eventually(
        lambda: condition(k8s, "Ready").get("reason") == reason and condition(k8s, "Ready")
    )
    assert ready["status"] == "False" and named in ready["message"]
    assert condition(k8s, "ScalingActive")["reason"] == reason
    await eventually(lambda: events(k8s, reason), message=f"a {reason} warning event")
    await more_passes(k8s, n=3)
    assert replica_history(k8s) == [1], "a bad TaskQueue scaled the workers"
    acme = await engine_tenant(engine, "acme")
    assert (acme["weight"], acme["state"]) == (1, "active"), "a bad TaskQueue changed a tenant"
    assert not events(k8s, "TenantUpdated")
    assert len(events(k8s, reason)) == 1, "one warning per problem, not one per pass"
    assert_valid_status(k8s)


# --- items: the engine URL and the Secret entries ----------------------------------------


@pytest.fixture
async def trap() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An HTTP server nobody should call: it records every request it gets."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append({"path": request.path_qs, **dict(request.headers)})
        return web.json_response({"tenants": [], "totals": {}, "items": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_an_engine_url_off_the_allow_list_gets_no_request_and_no_key(
    k8s: Emulator,
    start_engine: StartEngine,
    run_operator: RunOperator,
    trap: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = trap
    engine = await start_engine(role="api")
    secret = admin_secret(
        "skiplock", engine.admin_key, reader=engine.reader_key, **{"mysql-password": "hunter2"}
    )
    await create(k8s, SECRETS_PATH, secret)
    await create(k8s, DEPLOYMENTS_PATH, deployment("worker", 1))
    body = taskqueue(
        "queue", worker="worker", engine_url=url, secret="skiplock", autoscaling={**FAST}
    )
    await create(k8s, tq_path(), body)
    await run_operator(allowed=[engine.url])

    ready = await eventually(
        lambda: (
            condition(k8s, "Ready").get("reason") == "EngineNotAllowed" and condition(k8s, "Ready")
        )
    )
    assert url in ready["message"] and engine.url in ready["message"]
    await more_passes(k8s, n=3)
    assert seen == [], "the operator called a URL it was not given"
    assert replica_history(k8s) == [1]

    # Fixed entry names: a TaskQueue cannot ask for the database password to be sent.
    await patch(
        k8s,
        tq_path("queue"),
        {
            "spec": {
                "engine": {
                    "url": engine.url,
                    "adminKeySecretRef": {"name": "skiplock", "key": "mysql-password"},
                }
            }
        },
    )
    spec_error = await eventually(
        lambda: condition(k8s, "Ready").get("reason") == "InvalidSpec" and condition(k8s, "Ready")
    )
    assert "'admin-key' and 'reader-key'" in spec_error["message"]
    assert seen == []


async def test_no_engine_configured_means_no_key_leaves(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    await create(k8s, SECRETS_PATH, admin_secret("skiplock", engine.admin_key))
    await create(k8s, DEPLOYMENTS_PATH, deployment("worker", 1))
    await create(
        k8s, tq_path(), taskqueue("queue", worker="worker", engine_url=None, secret="skiplock")
    )
    await run_operator(allowed=[])
    ready = await eventually(
        lambda: (
            condition(k8s, "Ready").get("reason") == "EngineNotAllowed" and condition(k8s, "Ready")
        )
    )
    assert "--engine-url" in ready["message"]
    assert replica_history(k8s) == [1]
