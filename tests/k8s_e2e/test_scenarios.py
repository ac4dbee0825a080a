"""Two more ways the chart is installed, end to end: without Helm hooks (``helm install
--wait``, Argo CD, Flux) with the API keys in a Secret of the user's, and without the
operator (fixed workers). Each installs, passes ``helm test`` and uninstalls cleanly."""

from __future__ import annotations

import base64

import pytest

from skiplock import keys
from tests.k8s_e2e.conftest import FULL, NAMESPACE, TENANTS, Install, until

pytestmark = [pytest.mark.k8s_e2e, pytest.mark.slow, pytest.mark.timeout(300)]

CI = "../../charts/skiplock/ci"


async def installed_and_tested(c: Install, *, workers: int, admin_key: str | None = None) -> None:
    await c.install()
    await c.api_up()
    if c.cluster.pods_of(f"{FULL}-operator"):
        # The operator scales nothing until the TaskQueue's tenants exist (it reports
        # TenantNotFound instead); a user creates them once, as here.
        async with c.client(admin_key) as admin:
            for name in TENANTS:
                created = await admin.post("/api/tenants", json={"name": name})
                assert created.status_code == 201, created.text
    await until(
        lambda: c.ready(f"{FULL}-worker") == workers, within=60, what=f"{workers} ready workers"
    )
    code, log = await c.helm_test()
    assert code == 0, log
    assert not c.cluster.failures
    assert c.cluster.api.refusals == []


async def uninstalled(c: Install) -> None:
    running = [p.name for p in c.cluster.pods.values()]
    await c.uninstall()
    await until(lambda: not c.cluster.pods, within=60, what="every pod stopped")
    assert {n: c.cluster.stopped[n] for n in running} == dict.fromkeys(running, 0)
    for kind in ("Deployment", "Service", "ConfigMap", "Job", "Role", "StatefulSet"):
        assert c.cluster.live(kind) == [], kind


@pytest.mark.chart_values(f"{CI}/gateway-values.yaml")
async def test_without_hooks_a_plain_job_migrates_and_the_users_key_secret_is_used(
    installed_chart: Install,
) -> None:
    c = installed_chart
    assert not c.release.hooks_for("post-install")  # the migration Job is an object
    (job,) = [m for m in c.release.objects if m["kind"] == "Job"]
    assert job["metadata"]["name"] == f"{FULL}-migrate-1"
    admin_key = keys.generate()[0]
    await c.cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "skiplock-api-keys", "namespace": NAMESPACE},
            "data": {"admin-key": base64.b64encode(admin_key.encode()).decode()},
        }
    )
    assert c.cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", FULL) is None
    await installed_and_tested(c, workers=1, admin_key=admin_key)
    route = c.cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", FULL)
    assert route is not None and route["spec"]["rules"][0]["backendRefs"][0]["name"] == (
        f"{FULL}-api"
    )
    assert c.cluster.get("batch/v1", "Job", f"{FULL}-migrate-1")["status"] == {"succeeded": 1}
    assert c.cluster.get("v1", "Secret", f"{FULL}-keys") is None
    async with c.client(admin_key) as client:  # the user's key is the admin key
        assert (await client.get("/api/tenants")).status_code == 200
    await uninstalled(c)


@pytest.mark.chart_values(f"{CI}/no-operator-values.yaml")
async def test_without_the_operator_fixed_workers_run_and_maintenance_still_runs(
    installed_chart: Install,
) -> None:
    c = installed_chart
    assert not c.cluster.pods_of(f"{FULL}-operator")
    await installed_and_tested(c, workers=4)
    async with c.client() as client:
        # A task that fails once comes back only through the promoter (maintenance).
        task = {"type": "e2e.work", "payload": {"seconds": 0.05, "fail_attempts": 1}}
        created = (await client.post("/api/tasks", json=task)).json()

        async def succeeded() -> bool:
            found = (await client.get(f"/api/tasks/{created['id']}")).json()
            return bool(found["state"] == "succeeded")

        await until(succeeded, within=30, what="the retried task to succeed")
    await uninstalled(c)
