"""The operator end to end, minus a cluster: kopf runs the real handlers against the kmock
Kubernetes emulator, and reads and changes a real ``skiplock serve`` over HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.skiplock_operator.cluster import (
    FAST,
    RunOperator,
    StartEngine,
    assert_valid_status,
    condition,
    create,
    events,
    given_cluster,
    metric,
    patch,
    replicas,
    status,
    tq_path,
)
from tests.skiplock_operator.conftest import (
    DEPLOYMENTS,
    NAMESPACE,
    TASKQUEUES,
    VERBS,
    Emulator,
    admin_secret,
    deployment,
    eventually,
    taskqueue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def test_workers_scale_up_with_depth_and_back_to_min_after_the_window(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    # --role api: tasks are accepted but never claimed, so the depth is ours to set.
    engine = await start_engine(role="api")
    auto = {"minReplicas": 1, "maxReplicas": 4, "targetTasksPerReplica": 10, **FAST}
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto)
    await run_operator()

    ready = await eventually(
        lambda: condition(k8s, "Ready").get("status") == "True" and status(k8s)
    )
    assert ready["currentReplicas"] == 1
    assert ready["desiredReplicas"] == 1
    assert ready["autoscalingMode"] == "Operator"
    assert replicas(k8s) == 1

    async with engine.client() as client:
        batch = {"tasks": [{"type": "noop"} for _ in range(55)]}
        assert (await client.post("/api/tasks/batch", json=batch)).status_code == 201

    await eventually(lambda: replicas(k8s) == 4, message="scale up to maxReplicas")
    up = await eventually(lambda: status(k8s).get("queued") == 55 and status(k8s))
    assert up["desiredReplicas"] == 4
    assert up["lastScaleTime"]
    limited = await eventually(
        lambda: (
            condition(k8s, "ScalingLimited").get("status") == "True"
            and condition(k8s, "ScalingLimited")
        )
    )
    assert limited["reason"] == "TooManyReplicas"  # ceil(55 / 10) = 6 > 4
    assert condition(k8s, "ScalingActive")["status"] == "True"
    await eventually(lambda: events(k8s, "ScaledUp"), message="a ScaledUp event")
    assert (
        metric("skiplock_operator_scale_events_total", taskqueue="default/queue", direction="up")
        >= 1
    )
    assert metric("skiplock_operator_desired_replicas", taskqueue="default/queue") == 4

    async with engine.client() as client:
        response = await client.post(
            "/api/tasks/bulk/cancel", json={"filter": {"state": ["queued"]}}
        )
        assert response.status_code == 200, response.text

    await eventually(lambda: replicas(k8s) == 1, message="scale back down to minReplicas")
    # The stabilisation window held the replicas: some pass saw the empty queue and kept 4.
    held = [
        v.get("status", {})
        for v in k8s.objects[TASKQUEUES, NAMESPACE, "queue"].history
        if v.get("status", {}).get("queued") == 0 and v["status"].get("currentReplicas") == 4
    ]
    assert held, "scaled down without waiting for the stabilisation window"
    assert all(h["desiredReplicas"] == 4 for h in held)
    down = await eventually(lambda: status(k8s).get("currentReplicas") == 1 and status(k8s))
    assert down["queued"] == 0
    await eventually(lambda: events(k8s, "ScaledDown"), message="a ScaledDown event")
    assert_valid_status(k8s)
    history = [v["spec"]["replicas"] for v in k8s.objects[DEPLOYMENTS, NAMESPACE, "worker"].history]
    assert max(history) == 4
    assert history[-1] == 1

    # No finalizer: deleting the TaskQueue needs no operator. With one running, its daemon
    # notices the object is gone, ends, and drops the metrics.
    assert not k8s.objects[TASKQUEUES, NAMESPACE, "queue"]["metadata"].get("finalizers")
    async with k8s.request("delete", tq_path("queue")) as response:
        assert response.status == 200
    await eventually(lambda: k8s.objects[TASKQUEUES, NAMESPACE, "queue"].deleted, message="gone")
    await eventually(
        lambda: (
            REGISTRY.get_sample_value(
                "skiplock_operator_desired_replicas", {"taskqueue": "default/queue"}
            )
            is None
        ),
        message="metrics forgotten",
    )


async def test_a_restarted_operator_keeps_the_scale_down_window_of_the_one_before(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    """The HPA forgets its recommendations when it restarts and may scale down at once;
    the operator reads them back from status.scalingHistory and keeps waiting."""
    engine = await start_engine(role="api")
    window = 12
    auto = {
        "minReplicas": 1,
        "maxReplicas": 4,
        "targetTasksPerReplica": 10,
        **FAST,
        "scaleDown": {"stabilizationWindowSeconds": window, "maxPercent": 100, "periodSeconds": 1},
    }
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto)
    stop_first = await run_operator()
    async with engine.client() as client:
        batch = {"tasks": [{"type": "noop"} for _ in range(40)]}
        assert (await client.post("/api/tasks/batch", json=batch)).status_code == 201
    await eventually(lambda: replicas(k8s) == 4, message="scale up")
    async with engine.client() as client:
        response = await client.post(
            "/api/tasks/bulk/cancel", json={"filter": {"state": ["queued"]}}
        )
        assert response.status_code == 200, response.text
    seen = await eventually(lambda: status(k8s).get("queued") == 0 and status(k8s))
    assert seen["desiredReplicas"] == 4  # held by the window
    saved = seen["scalingHistory"]["recommendations"]
    assert max(r["replicas"] for r in saved) == 4
    assert_valid_status(k8s)

    await stop_first()
    versions_before = len(k8s.objects[TASKQUEUES, NAMESPACE, "queue"].history)
    await run_operator()

    def new_pass() -> dict[str, Any] | None:
        for version in k8s.objects[TASKQUEUES, NAMESPACE, "queue"].history[versions_before:]:
            st = version.get("status") or {}
            if st.get("queued") == 0 and "desiredReplicas" in st:
                return dict(st)
        return None

    after_restart = await eventually(new_pass, message="a pass of the restarted operator")
    assert after_restart["desiredReplicas"] == 4, "the restart forgot the stabilisation window"
    assert replicas(k8s) == 4
    await eventually(lambda: replicas(k8s) == 1, message="scale down once the window has passed")


async def test_tenant_settings_are_applied_and_a_paused_tenant_is_not_claimed(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="all", workers=2)
    async with engine.client() as client:  # tenants are made with their keys, elsewhere
        for name in ("acme", "globex"):
            assert (await client.post("/api/tenants", json={"name": name})).status_code == 201
    tenants = {
        "acme": {"weight": 3, "rateLimit": "500/60", "state": "Paused"},
        "globex": {"weight": 2},
    }
    auto = {"minReplicas": 1, "maxReplicas": 3, **FAST}
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto, tenants=tenants)
    await run_operator()

    async def engine_tenant(name: str) -> dict[str, Any]:
        async with engine.client() as client:
            response = await client.get(f"/api/tenants/{name}")
            return dict(response.json()) if response.status_code == 200 else {}

    async def acme_paused() -> dict[str, Any] | None:
        t = await engine_tenant("acme")
        return t if t.get("state") == "paused" else None

    acme = await eventually(acme_paused, message="acme paused in the engine")
    assert acme["weight"] == 3
    assert acme["rate_limit"] == {"cost": 500, "window_s": 60}
    assert (await engine_tenant("globex"))["weight"] == 2
    await eventually(lambda: events(k8s, "TenantUpdated"), message="a TenantUpdated event")

    async with engine.client() as client:
        task = (await client.post("/api/tasks", json={"type": "noop", "tenant": "acme"})).json()
        control = (
            await client.post("/api/tasks", json={"type": "noop", "tenant": "globex"})
        ).json()

    async def task_state(task_id: int) -> str:
        async with engine.client() as client:
            return str((await client.get(f"/api/tasks/{task_id}")).json()["state"])

    # The engine is claiming (globex's task finishes) but not acme's: it is paused.
    await eventually(lambda: _equals(task_state(control["id"]), "succeeded"))
    assert await task_state(task["id"]) == "queued"
    paused = await eventually(
        lambda: (
            status(k8s).get("tenants", {}).get("acme", {}).get("queued") == 1
            and status(k8s)["tenants"]["acme"]
        )
    )
    assert paused["state"] == "Paused"

    # Resume through the TaskQueue: the operator applies it and the task runs.
    await patch(k8s, tq_path("queue"), {"spec": {"tenants": {"acme": {"state": "Active"}}}})
    await eventually(
        lambda: _equals(task_state(task["id"]), "succeeded"), message="acme's task ran"
    )
    assert (await engine_tenant("acme"))["state"] == "active"

    # Draining: the Drained condition turns True once nothing is left.
    await patch(k8s, tq_path("queue"), {"spec": {"tenants": {"globex": {"state": "Draining"}}}})
    drained = await eventually(
        lambda: condition(k8s, "Drained").get("status") == "True" and condition(k8s, "Drained")
    )
    assert drained["reason"] == "AllDrained"
    assert status(k8s)["tenants"]["globex"] == {
        "state": "Draining",
        "queued": 0,
        "running": 0,
        "drained": True,
    }

    assert_valid_status(k8s)

    # Someone pauses acme behind the operator's back: the TaskQueue wins on the next poll.
    async with engine.client() as client:
        await client.post("/api/tenants/acme/pause")
    await eventually(lambda: _equalsfield_is(engine_tenant("acme"), "state", "active"))


@pytest.mark.parametrize("owner", ["hpa", "annotation", "spec"])
async def test_another_owner_of_replicas_makes_the_operator_only_report(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator, owner: str
) -> None:
    engine = await start_engine(role="api")
    auto: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 9, "targetTasksPerReplica": 1, **FAST}
    annotations: dict[str, str] = {}
    expected_mode, expected_reason = "Disabled", "AutoscalingDisabled"
    if owner == "hpa":
        expected_mode, expected_reason = "External", "ExternalAutoscaler"
        k8s.resources["autoscaling/v2/horizontalpodautoscalers"] = k8s.ResourceInfo(
            kind="HorizontalPodAutoscaler", namespaced=True, verbs=VERBS
        )
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "worker-hpa", "namespace": NAMESPACE},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
                "minReplicas": 1,
                "maxReplicas": 3,
            },
        }
        path = f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers"
        await create(k8s, path, hpa)
    elif owner == "annotation":
        annotations = {"skiplock.dev/autoscaling": "disabled"}
    else:
        auto["enabled"] = False
    await create(
        k8s,
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
        deployment("worker", 2, annotations),
    )
    await create(
        k8s,
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        admin_secret("skiplock", engine.admin_key, reader=engine.reader_key),
    )
    body = taskqueue("queue", worker="worker", engine_url=engine.url, secret="skiplock")
    body["spec"]["autoscaling"] = auto
    await create(k8s, tq_path(), body)
    async with engine.client() as client:
        await client.post("/api/tasks/batch", json={"tasks": [{"type": "noop"}] * 7})
    await run_operator()

    reported = await eventually(lambda: status(k8s).get("desiredReplicas") == 7 and status(k8s))
    assert reported["autoscalingMode"] == expected_mode
    assert reported["currentReplicas"] == 2
    assert condition(k8s, "ScalingActive")["reason"] == expected_reason
    history = [v["spec"]["replicas"] for v in k8s.objects[DEPLOYMENTS, NAMESPACE, "worker"].history]
    assert set(history) == {2}, "the operator patched replicas it does not own"


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _equalsfield_is(value: Awaitable[dict[str, Any]], key: str, expected: Any) -> bool:
    return bool((await value).get(key) == expected)


async def test_in_peering_mode_the_elected_operator_scales_and_announces_itself(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    k8s.resources["kopf.dev/v1/kopfpeerings"] = k8s.ResourceInfo(
        kind="KopfPeering", namespaced=True, verbs=VERBS
    )
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "ops"}}
    await create(k8s, f"/apis/kopf.dev/v1/namespaces/{NAMESPACE}/kopfpeerings", peering)
    auto = {"minReplicas": 1, "maxReplicas": 3, "targetTasksPerReplica": 10, **FAST}
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto)
    async with engine.client() as client:
        await client.post("/api/tasks/batch", json={"tasks": [{"type": "noop"}] * 30})
    await run_operator(peering="ops")

    await eventually(lambda: replicas(k8s) == 3, message="the elected peer scaled")
    peering_obj = k8s.objects["kopf.dev/v1/kopfpeerings", NAMESPACE, "ops"]
    peers = json.loads(json.dumps(peering_obj.get("status") or {}, default=dict))
    assert [p["priority"] for p in peers.values()] == [100], peers
