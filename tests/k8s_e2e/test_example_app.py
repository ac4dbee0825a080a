"""The path a user's code takes to Kubernetes, end to end: the chart installed with
examples/app/values.yaml (the image built from examples/app/Dockerfile, ``config.handlers:
myapp.tasks``). Worker pods import the handlers and announce their type; api pods, which
do not import them, accept that type and refuse one no worker announced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.k8s_e2e.conftest import EXAMPLE_APP, FULL, Install, example_image, until

pytestmark = [pytest.mark.k8s_e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def container(c: Install, deployment: str) -> dict[str, Any]:
    found = [m for m in c.release.objects if m["kind"] == "Deployment"]
    [d] = [m for m in found if m["metadata"]["name"] == deployment]
    return dict(d["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.chart_values(str(EXAMPLE_APP / "values.yaml"))
async def test_the_example_apps_type_runs_and_a_type_no_worker_announced_is_refused(
    installed_chart: Install,
) -> None:
    c = installed_chart
    api, worker = container(c, f"{FULL}-api"), container(c, f"{FULL}-worker")
    assert api["image"] == worker["image"] == f"{example_image()}:1.0.0"
    # Only worker pods are told to import the application's handlers.
    [config] = [
        m for m in c.release.objects if m["kind"] == "ConfigMap" and m["metadata"]["name"] == FULL
    ]
    assert "SKIPLOCK_HANDLERS" not in config["data"]
    assert "SKIPLOCK_HANDLERS" not in {e["name"] for e in api.get("env", [])}
    assert {"name": "SKIPLOCK_HANDLERS", "value": "myapp.tasks"} in worker["env"]

    await c.install()
    await c.api_up()
    await until(lambda: c.ready(f"{FULL}-worker") >= 1, within=60, what="a ready worker")
    async with c.client() as client:

        async def accepted() -> dict[str, Any] | None:
            # A worker is accepted as ready before it has announced its types (its probe
            # is liveness, not readiness): submit until the announcement has landed.
            # The Service also routes to a ready pod only once its endpoints update.
            body = {"type": "myapp.greet", "payload": {"name": "Ada"}}
            try:
                r = await client.post("/api/tasks", json=body)
            except httpx.ConnectError:
                return None
            assert r.status_code in (201, 422), r.text
            return dict(r.json()) if r.status_code == 201 else None

        task = await until(accepted, within=60, what="myapp.greet accepted", every=0.5)
        assert (task["max_attempts"], task["timeout_s"]) == (5, 30.0)  # the handler's options

        async def finished() -> dict[str, Any] | None:
            found = (await client.get(f"/api/tasks/{task['id']}")).json()
            return dict(found) if found["state"] in ("succeeded", "dead") else None

        done = await until(finished, within=60, what="myapp.greet finished")
        assert done["state"] == "succeeded", done
        assert done["result"]["greeting"] == "Hello, Ada!"

        refused = await client.post("/api/tasks", json={"type": "myapp.unknown"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["message"].startswith(
            "no worker has announced task type 'myapp.unknown'"
        )

        listed = (await client.get("/api/task-types")).json()["types"]
        [greet] = [t for t in listed if t["name"] == "myapp.greet"]
        workers = {p.name for p in c.cluster.pods_of(f"{FULL}-worker")}
        assert greet["instances"] and {i.split(":")[0] for i in greet["instances"]} <= workers
    assert not c.cluster.failures
