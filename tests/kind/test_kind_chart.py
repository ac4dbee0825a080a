"""End to end on a real cluster: install the chart, queue work, watch the operator scale
the workers up and back down, and the tenants it applies.

Run with a cluster from `make kind-up` and the image loaded into it:
    docker build -t skiplock:e2e . && kind load docker-image skiplock:e2e --name skiplock
    SKIPLOCK_E2E_IMAGE=skiplock:e2e .venv/bin/pytest tests/kind -m kind
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = os.environ.get("SKIPLOCK_E2E_NAMESPACE", "skiplock-e2e")
RELEASE = "e2e"
IMAGE = os.environ.get("SKIPLOCK_E2E_IMAGE", "skiplock:e2e")

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1200)]

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, within: float, message: str) -> T:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"{message} within {within}s; last: {last!r}")


def run(*args: str, timeout: float = 600) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def release(helm: str, kubectl: str) -> Iterator[str]:
    repository, _, tag = IMAGE.rpartition(":")
    run(
        helm, "upgrade", "--install", RELEASE, str(ROOT / "charts" / "skiplock"),
        "--namespace", NAMESPACE, "--create-namespace", "--wait", "--timeout", "10m",
        "-f", str(ROOT / "deploy" / "kind-values.yaml"),
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
        "--set", "ingress.enabled=false",
        "--set", "worker.slots=2",
        "--set", "taskQueue.autoscaling.maxReplicas=3",
        "--set", "taskQueue.autoscaling.targetTasksPerReplica=4",
        "--set", "taskQueue.autoscaling.pollingIntervalSeconds=2",
        "--set", "taskQueue.autoscaling.scaleDown.stabilizationWindowSeconds=10",
        "--set", "taskQueue.tenants.e2e-paused.state=Paused",
    )  # fmt: skip
    try:
        yield f"{RELEASE}-skiplock"
    finally:
        run(helm, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
        run(kubectl, "delete", "namespace", NAMESPACE, "--wait=false")


@pytest.fixture(scope="module")
def api(kubectl: str, release: str) -> Iterator[httpx.Client]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    forward = subprocess.Popen(
        [kubectl, "-n", NAMESPACE, "port-forward", f"svc/{release}-api", f"{port}:8080"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key = run(
        kubectl,
        "-n",
        NAMESPACE,
        "get",
        "secret",
        f"{release}-keys",
        "-o",
        "jsonpath={.data.admin-key}",
    )
    import base64

    headers = {"Authorization": f"Bearer {base64.b64decode(key).decode()}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:

        def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return client.get("/api/ready").status_code == 200
            return False

        wait_for(ready, within=60, message="API reachable through port-forward")
        yield client
    forward.terminate()
    forward.wait(10)


def get_json(kubectl: str, *args: str) -> dict[str, Any]:
    return dict(json.loads(run(kubectl, "-n", NAMESPACE, "get", *args, "-o", "json")))


def test_operator_scales_workers_with_the_queue_and_applies_tenants(
    kubectl: str, release: str, api: httpx.Client
) -> None:
    def tq() -> dict[str, Any]:
        return get_json(kubectl, "taskqueue", release)

    # The operator applies a TaskQueue's tenant settings but creates no tenant.
    assert api.post("/api/tenants", json={"name": "e2e-paused"}).status_code in (201, 409)
    ready = wait_for(
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in tq().get("status", {}).get("conditions", [])
        ),
        within=120,
        message="TaskQueue Ready",
    )
    assert ready
    tenant = api.get("/api/tenants/e2e-paused").json()
    assert tenant["state"] == "paused"

    tasks = [{"type": "async_sleep", "payload": {"seconds": 30}} for _ in range(24)]
    assert api.post("/api/tasks/batch", json={"tasks": tasks}).status_code == 201

    def worker_replicas() -> int:
        return int(get_json(kubectl, "deployment", f"{release}-worker")["spec"]["replicas"])

    wait_for(lambda: worker_replicas() == 3, within=180, message="scaled up to maxReplicas")
    assert tq()["status"]["desiredReplicas"] == 3

    api.post("/api/tasks/bulk/cancel", json={"filter": {"state": ["queued", "running"]}})
    wait_for(lambda: worker_replicas() == 1, within=300, message="scaled back to minReplicas")
