"""The rendered chart, installed into the emulated cluster: ``helm template`` output
applied to the kmock API server in Helm's order, its pods run as local processes, its hooks
run in their phase, and ``helm uninstall`` as Helm performs it."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kmock
import pytest
import yaml

from tests import services
from tests.k8s_e2e import helm
from tests.k8s_e2e.apiserver import ApiServer
from tests.k8s_e2e.cluster import Cluster
from tests.k8s_e2e.network import spare_port
from tests.k8s_e2e.pods import app_image_path

HERE = Path(__file__).resolve().parent
EXAMPLE_APP = HERE.parents[1] / "examples" / "app"
RELEASE = "rel"
NAMESPACE = "jobs"
FULL = f"{RELEASE}-skiplock"
TENANTS = ("e2e-acme", "e2e-globex")  # the TaskQueue's, in values-e2e.yaml

T = TypeVar("T")


async def until(
    probe: Callable[[], Awaitable[T] | T], *, within: float, what: str, every: float = 0.2
) -> T:
    """Poll until ``probe`` returns something truthy; fail with the last value after
    ``within`` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        result = probe()
        last = await result if asyncio.iscoroutine(result) else result
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s (last: {last!r})")
        await asyncio.sleep(every)


@dataclass
class Install:
    """One release of the chart in the emulated cluster."""

    cluster: Cluster
    release: helm.Release
    records: Path
    values: list[Path] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    hook_runs: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.cluster.services[f'{FULL}-api'][0].port}"

    def secret(self, name: str, key: str) -> str:
        found = self.cluster.get("v1", "Secret", name)
        assert found is not None, f"Secret {name}"
        return base64.b64decode(found["data"][key]).decode()

    @property
    def admin_key(self) -> str:
        return self.secret(f"{FULL}-keys", "admin-key")

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {key or self.admin_key}"},
            timeout=30,
        )

    def replicas(self, deployment: str) -> int:
        found = self.cluster.get("apps/v1", "Deployment", deployment)
        assert found is not None
        return int(found["spec"]["replicas"])

    def ready(self, deployment: str) -> int:
        return sum(1 for p in self.cluster.pods_of(deployment) if p.ready)

    def serving(self, service: str) -> bool:
        """The Service accepts connections: its endpoints have reached the proxy (a tick
        after a pod turns ready, as kube-proxy lags the kubelet). A client that waits only
        for ready pods can still be refused in that moment, in a real cluster as here."""
        ports = self.cluster.services.get(service)
        return bool(ports) and all(port.server is not None for port in ports)

    async def api_up(self, pods: int = 2) -> None:
        """What ``kubectl rollout status`` then ``kubectl wait`` for the endpoints give a
        user: the api pods ready and the Service answering."""
        api = f"{FULL}-api"
        await until(
            lambda: self.ready(api) == pods and self.serving(api),
            within=120,
            what=f"{pods} ready api pods behind a serving Service",
        )

    async def install(self) -> None:
        """``helm install`` without ``--wait``: CRDs, then the objects in Helm's order,
        then the post-install hooks (each waited for, as Helm does)."""
        for crd in self.release.crds:
            await self.cluster.apply(crd)
        for manifest in self.release.objects:
            await self.cluster.apply(manifest)
        await self._hooks(self.release, "post-install")

    async def _hooks(self, release: helm.Release, phase: str) -> None:
        for hook in release.hooks_for(phase):
            assert hook["kind"] == "Job", hook["kind"]
            started = time.monotonic()
            assert await self.cluster.run_job(hook), f"{phase} hook {hook['metadata']['name']}"
            self.hook_runs.append(
                (f"{phase}/{hook['metadata']['name']}", started, time.monotonic())
            )
            if "hook-succeeded" in hook["metadata"]["annotations"].get(
                "helm.sh/hook-delete-policy", ""
            ):
                await self.cluster.delete(hook)

    async def upgrade(self, *sets: str) -> None:
        """``helm upgrade`` with more ``--set``s: pre-upgrade hooks (waited for), then every
        object of the new render applied, and objects the release no longer has deleted.

        Helm renders the chart's ``lookup`` against the cluster, so the Secret templates keep
        their generated values; ``helm template`` cannot look up, so the live values are
        carried over here, which is what those templates do."""
        new = helm.render(
            release=RELEASE, namespace=NAMESPACE, values=self.values, sets=[*self.sets, *sets]
        )
        await self._hooks(new, "pre-upgrade")
        for rendered in new.objects:
            live = self.cluster.get(
                rendered["apiVersion"], rendered["kind"], rendered["metadata"]["name"]
            )
            if live is None:
                await self.cluster.apply(rendered)
                continue
            body = rendered
            if rendered["kind"] == "Secret":
                body = {**rendered, "data": {**rendered.get("data", {}), **live.get("data", {})}}
            await self.cluster.request("PATCH", self.cluster.path(rendered), body)
        names = {(m["kind"], m["metadata"]["name"]) for m in new.objects}
        for manifest in self.release.uninstall_order():
            if (manifest["kind"], manifest["metadata"]["name"]) not in names:
                await self.cluster.delete(manifest)
        await self._hooks(new, "post-upgrade")
        self.release = new

    async def helm_test(self) -> tuple[int | None, str]:
        (pod,) = self.release.hooks_for("test")
        return await self.cluster.run_test_pod(pod, timeout_s=120)

    async def uninstall(self) -> None:
        """``helm uninstall`` (no hooks defined for it): delete in Helm's uninstall order,
        without waiting between objects, keeping what says ``resource-policy: keep``."""
        for manifest in self.release.uninstall_order():
            await self.cluster.delete(manifest)


def example_image() -> str:
    """The image repository the example application's values select."""
    values = yaml.safe_load((EXAMPLE_APP / "values.yaml").read_text())
    return str(values["image"]["repository"])


@pytest.fixture
def mysql_server() -> str:
    try:
        return services.mysql_server_url()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def installed_chart(
    request: pytest.FixtureRequest, tmp_path: Path, mysql_server: str
) -> AsyncIterator[Install]:
    """The chart rendered with values-e2e.yaml (plus a test's ``@pytest.mark.values``
    file), its API server up and its controllers running, not yet installed."""
    marker = request.node.get_closest_marker("chart_values")
    extra = [HERE / name for name in (marker.args if marker else ())]
    unique = uuid.uuid4().hex[:10]
    records = tmp_path / "records"
    records.mkdir()
    values = [HERE / "values-e2e.yaml", *extra]
    sets = [
        # Ports free on this machine (pods each listen on their own address, but the
        # operator listens on every interface); a database and user of its own.
        f"config.port={spare_port()}",
        f"config.metricsPort={spare_port()}",
        f"operator.livenessPort={spare_port()}",
        f"operator.metricsPort={spare_port()}",
        f"mysql.auth.database=sk_e2e_{unique}",
        f"mysql.auth.username=sk_e2e_{unique}",
        f"config.extraEnv.SKIPLOCK_E2E_RECORD_DIR={records}",
    ]
    release = helm.render(release=RELEASE, namespace=NAMESPACE, values=values, sets=sets)
    api = ApiServer()
    async with api, kmock.Server(api):
        cluster = Cluster(
            api,
            str(api.url),
            namespace=NAMESPACE,
            workdir=tmp_path / "pods",
            mysql_server=mysql_server,
            app_path=HERE / "app",
            app_images={example_image(): app_image_path(EXAMPLE_APP / "Dockerfile")},
        )
        cluster.start()
        install = Install(
            cluster=cluster, release=release, records=records, values=values, sets=sets
        )
        try:
            yield install
        finally:
            await cluster.close()
