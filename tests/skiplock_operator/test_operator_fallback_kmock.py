"""The operator when things go wrong around it, against kmock and a real engine: stats
that cannot be read, and TaskQueues deleted with or without the operator running."""

from __future__ import annotations

import json
import logging

import kopf
import pytest

from skiplock_operator.config import OperatorConfig
from skiplock_operator.kube import KubeApi
from skiplock_operator.reconciler import Reconciler
from skiplock_operator.runtime import QueueRuntime
from tests.skiplock_operator.cluster import (
    FAST,
    RunOperator,
    StartEngine,
    condition,
    create,
    events,
    given_cluster,
    metric,
    patch,
    replica_history,
    replicas,
    status,
    tq_path,
)
from tests.skiplock_operator.conftest import (
    NAMESPACE,
    TASKQUEUES,
    Emulator,
    eventually,
    taskqueue,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def test_unreadable_stats_hold_then_fall_back_one_step_at_a_time(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    auto = {
        **FAST,
        "minReplicas": 1,
        "maxReplicas": 6,
        "fallback": {"failureThreshold": 2, "replicas": 5},
        "scaleUp": {"stabilizationWindowSeconds": 0, "maxPods": 2, "periodSeconds": 1},
    }
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto)
    # Wrong keys: the engine answers 401 to every stats read.
    wrong = "c2tfb3B0ZXN0MDFfMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="
    await patch(
        k8s,
        f"/api/v1/namespaces/{NAMESPACE}/secrets/skiplock",
        {"data": {"admin-key": wrong, "reader-key": wrong}},
    )
    await run_operator()

    await eventually(lambda: replicas(k8s) == 5, message="fallback replicas")
    # The pass scales first and writes its status after: wait for that write.
    await eventually(
        lambda: condition(k8s, "ScalingActive").get("reason") == "FallbackActive",
        message="ScalingActive: FallbackActive",
    )
    history = replica_history(k8s)
    assert history == [1, 3, 5], "the fallback skipped the scale-up step limit (2 per second)"
    assert condition(k8s, "Ready")["reason"] == "EngineUnavailable"
    assert "401" in condition(k8s, "Ready")["message"]
    assert metric("skiplock_operator_stats_errors_total", taskqueue="default/queue") >= 2
    await eventually(lambda: events(k8s, "ReconcileFailed"), message="a ReconcileFailed event")


async def test_a_stats_outage_never_takes_busy_workers_away(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    """Four tasks run, one per worker slot; the stats become unreadable; the fallback's
    two replicas would cut into them. The workers stay at four (currentReplicasIfHigher)."""
    engine = await start_engine(role="all", workers=4, extra={"SKIPLOCK_SHUTDOWN_GRACE_S": "0"})
    auto = {
        **FAST,
        "minReplicas": 1,
        "maxReplicas": 8,
        "workerSlots": 1,
        "fallback": {"failureThreshold": 2, "replicas": 2},
        "scaleDown": {"stabilizationWindowSeconds": 0, "maxPercent": 100, "periodSeconds": 1},
    }
    async with engine.client() as client:
        batch = {"tasks": [{"type": "async_sleep", "payload": {"seconds": 120}}] * 4}
        assert (await client.post("/api/tasks/batch", json=batch)).status_code == 201

        async def running() -> bool:
            stats = (await client.get("/api/queue/stats")).json()
            return bool(stats["totals"]["running"] == 4)

        await eventually(running, message="four tasks running")
    await given_cluster(k8s, engine, replicas=4, autoscaling=auto)
    await run_operator()
    seen = await eventually(lambda: status(k8s).get("running") == 4 and status(k8s))
    assert seen["desiredReplicas"] == 4  # ceil(4 running / 1 slot)

    async with engine.client() as client:  # the reader key stops working: stats fail
        keys = (await client.get("/api/keys")).json()["items"]
        reader_id = next(k["id"] for k in keys if k["role"] == "reader")
        assert (await client.delete(f"/api/keys/{reader_id}")).status_code == 200
    fallback = await eventually(
        lambda: (
            condition(k8s, "ScalingActive").get("reason") == "FallbackActive"
            and condition(k8s, "ScalingActive")
        ),
        within=30,
        message="the fallback",
    )
    assert "never below current 4" in fallback["message"]
    history = replica_history(k8s)
    assert set(history) == {4}, f"busy workers were taken away: {history}"
    assert status(k8s)["desiredReplicas"] == 4
    async with engine.client() as client:
        await client.post("/api/tasks/bulk/cancel", json={"filter": {"state": ["running"]}})


async def test_a_taskqueue_is_deleted_at_once_with_no_operator_running(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    """helm uninstall deletes the operator and its RBAC before the custom resources, and a
    namespace deletion takes everything at once: nothing may wait for the operator."""
    engine = await start_engine(role="api")
    await given_cluster(k8s, engine, replicas=1, autoscaling={**FAST})
    stop = await run_operator()
    await eventually(lambda: condition(k8s, "Ready").get("status") == "True", message="reconciled")
    assert not k8s.objects[TASKQUEUES, NAMESPACE, "queue"]["metadata"].get("finalizers")
    await stop()

    async with k8s.request("delete", tq_path("queue")) as response:
        assert response.status == 200, await response.text()
    assert k8s.objects[TASKQUEUES, NAMESPACE, "queue"].deleted, "deletion waited for someone"


async def test_the_finalizer_of_an_earlier_version_is_removed_so_deletion_cannot_hang(
    k8s: Emulator, start_engine: StartEngine, run_operator: RunOperator
) -> None:
    engine = await start_engine(role="api")
    await given_cluster(k8s, engine, replicas=1, autoscaling={**FAST})
    old = taskqueue("old", worker="worker", engine_url=engine.url, secret="skiplock")
    old["metadata"]["finalizers"] = ["skiplock.dev/operator"]
    await create(k8s, tq_path(), old)
    stop = await run_operator()
    await eventually(
        lambda: not k8s.objects[TASKQUEUES, NAMESPACE, "old"]["metadata"].get("finalizers"),
        message="the old finalizer removed",
    )
    await stop()
    async with k8s.request("delete", tq_path("old")) as response:
        assert response.status == 200
    assert k8s.objects[TASKQUEUES, NAMESPACE, "old"].deleted


async def test_the_daemon_of_a_deleted_taskqueue_ends_even_when_its_spec_is_invalid(
    k8s: Emulator,
    start_engine: StartEngine,
    run_operator: RunOperator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a finalizer kopf does not stop a daemon whose object vanished: the daemon
    sees it itself, on any kind of pass."""
    caplog.set_level(logging.INFO, logger="skiplock_operator")
    engine = await start_engine(role="api")
    await given_cluster(
        k8s, engine, replicas=1, autoscaling={**FAST, "minReplicas": 3, "maxReplicas": 2}
    )
    await run_operator()
    await eventually(lambda: condition(k8s, "Ready").get("reason") == "InvalidSpec")
    async with k8s.request("delete", tq_path("queue")) as response:
        assert response.status == 200
    await eventually(
        lambda: "TaskQueue default/queue is gone: its daemon ends" in caplog.text,
        message="the daemon ended",
    )


@pytest.mark.parametrize("spec", ["valid", "invalid"])
async def test_a_pass_for_a_taskqueue_that_is_gone_says_so_and_changes_nothing(
    k8s: Emulator, start_engine: StartEngine, spec: str
) -> None:
    """The backstop for a daemon whose DELETED event was missed (a watch reconnecting)."""
    engine = await start_engine(role="api")
    auto = {**FAST, "minReplicas": 3, "maxReplicas": 5 if spec == "valid" else 2}
    await given_cluster(k8s, engine, replicas=1, autoscaling=auto)
    body = json.loads(json.dumps(k8s.objects[TASKQUEUES, NAMESPACE, "queue"].raw))
    async with k8s.request("delete", tq_path("queue")) as response:
        assert response.status == 200
    kube = KubeApi()
    kube.use(kopf.ConnectionInfo(server=str(k8s.url).rstrip("/")))
    reconciler = Reconciler(
        kube=kube,
        events=lambda **_: None,
        config=OperatorConfig(engine_urls=(engine.url,), watch_namespaces=(NAMESPACE,)),
    )
    try:
        result = await reconciler.run_once(
            namespace=NAMESPACE,
            name="queue",
            uid=body["metadata"]["uid"],
            generation=1,
            spec=body["spec"],
            status={},
            runtime=QueueRuntime(),
        )
    finally:
        await kube.close()
    assert result.gone
    assert replica_history(k8s) == [1]
