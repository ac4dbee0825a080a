"""The emulated cluster does what Kubernetes and Helm do, in the parts the story relies on:
Helm's kind orders, the ReplicaSet controller's choice of pods to remove, the kubelet's
command line and environment, Service names through the DNS shim, a Service that refuses
without endpoints, and RBAC."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest

from tests.k8s_e2e import helm
from tests.k8s_e2e.apiserver import ADMIN_TOKEN, ApiServer
from tests.k8s_e2e.kubelet import Pod, scale_down_order
from tests.k8s_e2e.network import Endpoint, ServicePort
from tests.k8s_e2e.pods import (
    PodContext,
    Probing,
    Process,
    command_line,
    container_env,
    read_image,
)

pytestmark = pytest.mark.k8s_e2e
HERE = Path(__file__).resolve().parent


def test_helm_uninstall_deletes_the_taskqueue_after_the_operator_and_its_role() -> None:
    release = helm.render(release="rel", namespace="jobs")
    order = [f"{m['kind']}/{m['metadata']['name']}" for m in release.uninstall_order()]
    operator = order.index("Deployment/rel-skiplock-operator")
    role = order.index("Role/rel-skiplock-operator")
    binding = order.index("RoleBinding/rel-skiplock-operator")
    taskqueue = order.index("TaskQueue/rel-skiplock")
    assert order.index("Service/rel-skiplock-api") < operator < binding < role < taskqueue
    assert order[-1] == "TaskQueue/rel-skiplock"  # unknown kinds last, as in kind_sorter.go
    assert not [o for o in order if o.startswith("Secret/")]  # resource-policy: keep
    install = [m["kind"] for m in release.objects]
    assert install.index("Secret") < install.index("Deployment") < install.index("TaskQueue")
    assert [h["kind"] for h in release.hooks_for("post-install")] == ["Job"]
    assert [h["kind"] for h in release.hooks_for("test")] == ["Pod"]


def _pod(name: str, *, ready: bool, created: float, ready_since: float = 0.0) -> Pod:
    pod = Pod(
        name=name, namespace="jobs", owner="deployment/w", ip="127.1.0.1", labels={},
        spec={"containers": [{"name": "c"}]}, workdir=Path("/nonexistent"), extra_env={},
        created=created,
    )  # fmt: skip
    pod.process = Process(argv=[], env={}, log=Path("/dev/null"), cwd=Path("/nonexistent"))
    pod.process.proc = _Running()  # type: ignore[assignment]
    pod.probing = Probing(startup=None, readiness=None, ready=ready, ready_since=ready_since)
    return pod


class _Running:
    returncode = None
    pid = 0


def test_scale_down_removes_unready_then_cheapest_then_newest_pods_first() -> None:
    old_busy = _pod("old-busy", ready=True, created=1, ready_since=2)
    new_idle = _pod("new-idle", ready=True, created=5, ready_since=6)
    old_idle = _pod("old-idle", ready=True, created=2, ready_since=3)
    starting = _pod("starting", ready=False, created=3)
    costs = {
        "old-busy": {"controller.kubernetes.io/pod-deletion-cost": "400"},
        "new-idle": {"controller.kubernetes.io/pod-deletion-cost": "0"},
        "old-idle": {"controller.kubernetes.io/pod-deletion-cost": "0"},
    }
    order = [p.name for p in scale_down_order([old_busy, new_idle, old_idle, starting], costs)]
    assert order == ["starting", "new-idle", "old-idle", "old-busy"]
    # Without deletion costs the newest ready pod goes first, busy or not.
    order = [p.name for p in scale_down_order([old_busy, new_idle, old_idle], {})]
    assert order == ["new-idle", "old-idle", "old-busy"]


def test_the_kubelet_builds_env_and_command_as_kubernetes_does() -> None:
    objects: dict[tuple[str, str], dict[str, Any]] = {
        ("ConfigMap", "cfg"): {"data": {"A": "from-configmap", "B": "kept"}},
        ("Secret", "sec"): {"data": {"pw": "czNjcjN0"}},  # s3cr3t
    }
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [
            {"name": "A", "value": "overridden"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
            {"name": "URL", "value": "mysql://u:$(PW)@db/$(B)/$(LATER)"},
            {"name": "LATER", "value": "x"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "OPTIONAL",
                "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope", "optional": True}},
            },
        ],
        "args": ["serve", "--role", "$(B)"],
    }
    env = container_env(
        container,
        PodContext("pod-1", "jobs", "127.1.0.9", "sa"),
        lambda kind, _ns, name: objects.get((kind, name)),
    )
    assert env["A"] == "overridden" and env["B"] == "kept" and env["POD"] == "pod-1"
    assert env["URL"] == "mysql://u:s3cr3t@db/kept/$(LATER)"  # only earlier names expand
    assert "OPTIONAL" not in env  # an optional reference to a missing key is left out
    image = read_image()
    assert image.entrypoint == ["skiplock"] and image.cmd == ["serve"]
    assert image.env["SKIPLOCK_HOST"] == "0.0.0.0"
    full = {**image.env, **env}
    assert command_line(container, image, full)[1:] == ["serve", "--role", "kept"]
    assert Path(command_line(container, image, full)[0]).name == "skiplock"
    assert command_line({}, image, full)[1:] == ["serve"]
    operator = command_line({"command": ["skiplock-operator"], "args": ["-n", "jobs"]}, image, full)
    assert operator[1:] == ["-n", "jobs"] and operator[0].endswith("skiplock-operator")


def test_service_names_resolve_through_the_dns_shim(tmp_path: Path) -> None:
    table = tmp_path / "dns.json"
    table.write_text(json.dumps({"rel-skiplock-api:8080": "127.0.0.1:45678"}))
    script = (
        "import socket; print(socket.getaddrinfo('rel-skiplock-api', 8080)[0][4]);"
        "print(socket.getaddrinfo('localhost', 9)[0][4][1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(HERE / "dns"), "SKIPLOCK_E2E_DNS_FILE": str(table)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.splitlines() == ["('127.0.0.1', 45678)", "9"]


async def test_a_service_account_may_do_what_its_role_allows_and_no_more() -> None:
    api = ApiServer()
    async with api, kmock.Server(api):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        operator = {"Authorization": "Bearer system:serviceaccount:jobs:op"}
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "op", "namespace": "jobs"},
            "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["keys"],
                 "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"]},
            ],
        }  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "op", "namespace": "jobs"},
            "roleRef": {"kind": "Role", "name": "op", "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "jobs"}],
        }
        base = str(api.url).rstrip("/")
        rbac = f"{base}/apis/rbac.authorization.k8s.io/v1/namespaces/jobs"
        async with aiohttp.ClientSession() as http:
            for url, body in [(f"{rbac}/roles", role), (f"{rbac}/rolebindings", binding)]:
                async with http.post(url, json=body, headers=admin) as response:
                    assert response.status in (200, 201)
            for name in ("keys", "passwords"):
                secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
                async with http.post(
                    f"{base}/api/v1/namespaces/jobs/secrets", json=secret, headers=admin
                ) as response:
                    assert response.status in (200, 201)

            async def status(method: str, path: str) -> int:
                async with http.request(
                    method, base + path, headers=operator, json={} if method == "PATCH" else None
                ) as response:
                    return response.status

            assert await status("GET", "/api/v1/namespaces/jobs/secrets/keys") == 200
            assert await status("GET", "/api/v1/namespaces/jobs/secrets/passwords") == 403
            assert await status("GET", "/api/v1/namespaces/jobs/secrets") == 403  # list
            assert await status("GET", "/api/v1") == 200  # discovery
            async with http.delete(f"{rbac}/rolebindings/op", headers=admin) as response:
                assert response.status == 200
            assert await status("GET", "/api/v1/namespaces/jobs/secrets/keys") == 403
        refused = [(r.verb, r.resource, r.name) for r in api.refusals]
        assert refused == [
            ("get", "secrets", "passwords"),
            ("list", "secrets", None),
            ("get", "secrets", "keys"),
        ]


async def test_a_service_refuses_without_endpoints_and_keeps_its_port_meanwhile() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    backend = await asyncio.start_server(echo, "127.0.0.1", 0)
    endpoints: list[Endpoint] = []
    service = ServicePort(lambda: list(endpoints))
    try:
        assert service.port < 32768  # below the ephemeral range: no outgoing socket takes it

        async def answer() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
            writer.write(b"ping")
            await writer.drain()
            data = await reader.read(100)
            writer.close()
            return data

        def taken() -> bool:
            with socket.socket() as other:
                try:
                    other.bind(("127.0.0.1", service.port))
                except OSError:
                    return True
                return False

        await service.sync()
        with pytest.raises(ConnectionRefusedError):
            await answer()
        assert taken()

        endpoints.append(backend.sockets[0].getsockname()[:2])
        await service.sync()
        assert await answer() == b"ping"

        endpoints.clear()
        await service.sync()
        with pytest.raises(ConnectionRefusedError):
            await answer()
        assert taken()  # still ours while refusing, so the next listen cannot fail
        assert [change for _, change in service.changes] == ["open", "closed"]
    finally:
        await service.close()
        backend.close()
