"""Helpers for driving the operator through the kmock emulator: objects to create and
what to read back."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY

from tests.chart.chartlib import crd_schema
from tests.skiplock_operator.conftest import (
    DEPLOYMENTS,
    NAMESPACE,
    TASKQUEUES,
    Emulator,
    Engine,
    admin_secret,
    deployment,
    eventually,
    taskqueue,
)

StartEngine = Callable[..., Awaitable[Engine]]
RunOperator = Callable[..., Awaitable[Callable[[], Awaitable[None]]]]

FAST = {
    "pollingIntervalSeconds": 1,
    "workerSlots": 2,
    "scaleUp": {"stabilizationWindowSeconds": 0, "maxPods": 10, "periodSeconds": 1},
    "scaleDown": {"stabilizationWindowSeconds": 2, "maxPercent": 100, "periodSeconds": 1},
}


async def create(k8s: Emulator, path: str, body: dict[str, Any]) -> None:
    async with k8s.request("post", path, json=body) as response:
        assert response.status in (200, 201), await response.text()


async def patch(k8s: Emulator, path: str, body: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/merge-patch+json"}
    async with k8s.request("patch", path, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()


SECRETS_PATH = f"/api/v1/namespaces/{NAMESPACE}/secrets"
DEPLOYMENTS_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"


def tq_path(name: str = "") -> str:
    base = f"/apis/skiplock.dev/v1alpha1/namespaces/{NAMESPACE}/taskqueues"
    return f"{base}/{name}" if name else base


async def given_cluster(k8s: Emulator, engine: Engine, *, replicas: int, **spec: Any) -> None:
    await create(
        k8s, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment("worker", replicas)
    )
    secret = admin_secret("skiplock", engine.admin_key, reader=engine.reader_key)
    await create(k8s, f"/api/v1/namespaces/{NAMESPACE}/secrets", secret)
    body = taskqueue("queue", worker="worker", engine_url=engine.url, secret="skiplock", **spec)
    await create(k8s, tq_path(), body)


def replicas(k8s: Emulator, worker: str = "worker") -> int:
    return int(k8s.objects[DEPLOYMENTS, NAMESPACE, worker]["spec"]["replicas"])


def replica_history(k8s: Emulator, worker: str = "worker") -> list[int]:
    return [v["spec"]["replicas"] for v in k8s.objects[DEPLOYMENTS, NAMESPACE, worker].history]


def status(k8s: Emulator, name: str = "queue") -> dict[str, Any]:
    result: dict[str, Any] = k8s.objects[TASKQUEUES, NAMESPACE, name].get("status") or {}
    return result


def condition(k8s: Emulator, type_: str, name: str = "queue") -> dict[str, Any]:
    for cond in status(k8s, name).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def events(k8s: Emulator, reason: str) -> list[dict[str, Any]]:
    found = []
    for (resource, _, _), obj in k8s.objects.items():
        if resource.plural == "events" and not obj.deleted and obj.get("reason") == reason:
            found.append(dict(obj))
    return found


def assert_valid_status(k8s: Emulator, name: str = "queue") -> None:
    """What the operator wrote would pass the API server's validation of the CRD."""
    validator = Draft202012Validator(crd_schema()["properties"]["status"])
    plain = json.loads(json.dumps(status(k8s, name), default=dict))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(plain)]
    assert not errors, errors


def metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def tenants(engine: Engine, *names: str) -> None:
    async with engine.client() as client:
        for name in names:
            r = await client.post("/api/tenants", json={"name": name})
            assert r.status_code == 201, r.text


async def submit(engine: Engine, tenant: str, n: int, **task: Any) -> None:
    async with engine.client() as client:
        batch = {"tasks": [{"type": "noop", "tenant": tenant, **task}] * n}
        r = await client.post("/api/tasks/batch", json=batch)
        assert r.status_code == 201, r.text


async def engine_tenant(engine: Engine, name: str) -> dict[str, Any]:
    async with engine.client() as client:
        return dict((await client.get(f"/api/tenants/{name}")).json())


async def more_passes(k8s: Emulator, name: str = "queue", n: int = 2) -> None:
    """Wait for ``n`` more status writes of the TaskQueue: each pass ends with one."""
    seen = len(k8s.objects[TASKQUEUES, NAMESPACE, name].history)
    await eventually(
        lambda: len(k8s.objects[TASKQUEUES, NAMESPACE, name].history) >= seen + n,
        message=f"{n} more passes",
    )


async def field_is(found: Any, key: str, value: Any) -> bool:
    return bool((await found).get(key) == value)
