"""The emulated cluster: the API server (kmock) plus the controllers that make a rendered
chart run here.

- Deployments: keep ``spec.replicas`` pods, each a local process (``kubelet.Pod``);
  scale-down victims are chosen as the ReplicaSet controller does, honouring
  ``controller.kubernetes.io/pod-deletion-cost`` as the pods carry it when they are
  chosen; a deleted Deployment's pods are stopped (background cascading deletion).
- Services: a proxy per port (``network``), fed with the ready endpoints.
- StatefulSets: stand-ins (``standins``) for the official database images.
- Jobs: their pod runs to completion, again up to ``backoffLimit`` times.

Objects go through the API server over HTTP, as Helm and kubectl send them, so watchers
(the operator) see every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.k8s_e2e.apiclient import ApiClient, ApiError
from tests.k8s_e2e.apiserver import ApiServer
from tests.k8s_e2e.kubelet import COST, Pod, deletion_cost, scale_down_order
from tests.k8s_e2e.network import Dns, Endpoint, ServicePort
from tests.k8s_e2e.pods import HERE, Image, PodContext, Probing, container_env, read_image
from tests.k8s_e2e.standins import MySQLStandIn, RedisStandIn

Manifest = dict[str, Any]
StandIn = MySQLStandIn | RedisStandIn
TICK_S = 0.2


class Cluster(ApiClient):
    def __init__(
        self,
        api: ApiServer,
        url: str,
        *,
        namespace: str,
        workdir: Path,
        mysql_server: str,
        app_path: Path,
        app_images: Mapping[str, Path] | None = None,
        standin_delay_s: float = 5.0,
        endpoint_delay_s: float = 1.0,
    ) -> None:
        super().__init__(api, url, namespace=namespace)
        self.workdir = workdir
        self.mysql_server = mysql_server
        self.app_path = app_path
        # Image repository -> the local directory that image adds to the Python path;
        # other images (the chart's default, skiplock) get ``app_path``.
        self.app_images = dict(app_images or {})
        self.standin_delay_s = standin_delay_s
        self.endpoint_delay_s = endpoint_delay_s
        self.image: Image = read_image()
        workdir.mkdir(parents=True, exist_ok=True)
        self.dns = Dns(namespace, workdir / "dns.json")
        self.pods: dict[str, Pod] = {}
        self.services: dict[str, list[ServicePort]] = {}
        self.standins: dict[str, StandIn] = {}
        self.standin_labels: dict[str, dict[str, str]] = {}
        self.jobs: dict[str, asyncio.Task[bool]] = {}
        self.stopped: dict[str, int | None] = {}  # pod name -> exit code once stopped
        # Each scale-down: the pod removed, every candidate's deletion cost then (None: not
        # annotated), and the candidates that were not ready (those go first).
        self.scale_downs: list[tuple[str, dict[str, int | None], set[str]]] = []
        self._ips = itertools.count(10)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._statuses: dict[str, str] = {}
        self.failures: list[BaseException] = []  # of the controllers; a test checks none
        # Pods created, stopped, and turning ready or unready, for a failure's message.
        self.events: list[tuple[float, str]] = []
        self.probed: dict[str, Probing] = {}  # every pod's probing, kept after it is gone

    # --- running ----------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.create_task(self._control())

    async def close(self) -> None:
        """Stop every controller, process, proxy and stand-in that is left."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for pod in list(self.pods.values()):
            await pod.kill()
        for task in list(self._tasks) + list(self.jobs.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for ports in self.services.values():
            for port in ports:
                await port.close()
        for standin in self.standins.values():
            await standin.stop()
            if isinstance(standin, MySQLStandIn):
                await standin.forget()
        await self.close_client()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(task.exception())  # type: ignore[arg-type]

    async def _control(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception as exc:  # surfaced by the test through self.failures
                self.failures.append(exc)
                raise
            await asyncio.sleep(TICK_S)

    async def _tick(self) -> None:
        await self._services()
        await self._statefulsets()
        await self._deployments()
        await self._plain_jobs()
        for ports in self.services.values():
            for port in ports:
                await port.sync()
        await self._report()

    # --- Services -----------------------------------------------------------------------

    async def _services(self) -> None:
        live = {
            s["metadata"]["name"]: s
            for s in self.live("Service")
            if s["spec"].get("clusterIP") != "None" and s["spec"].get("selector")
        }
        for name, service in live.items():
            if name not in self.services:
                ports = []
                for spec in service["spec"]["ports"]:
                    port = ServicePort(endpoints=self._endpoints_of(service, spec))
                    self.dns.add(name, int(spec["port"]), port.port)
                    ports.append(port)
                self.services[name] = ports
        for name in [n for n in self.services if n not in live]:
            for port in self.services.pop(name):
                await port.close()
            self.dns.remove(name)

    def _endpoints_of(self, service: Manifest, port_spec: Mapping[str, Any]) -> Any:
        selector = dict(service["spec"]["selector"])
        target = port_spec.get("targetPort", port_spec["port"])

        def endpoints() -> list[Endpoint]:
            found: list[Endpoint] = []
            for pod in self.pods.values():
                if pod.serving and selector.items() <= pod.labels.items():
                    number = target if isinstance(target, int) else pod.ports.get(target)
                    if number is not None:
                        found.append((pod.ip, int(number)))
            for name, standin in self.standins.items():
                if standin.up and selector.items() <= self.standin_labels[name].items():
                    found.append(standin.address)
            return found

        return endpoints

    # --- StatefulSets -------------------------------------------------------------------

    async def _statefulsets(self) -> None:
        live = {s["metadata"]["name"]: s for s in self.live("StatefulSet")}
        for name, sts in live.items():
            if name not in self.standins:
                self.standins[name] = self._standin_for(sts)
                self.standin_labels[name] = dict(sts["spec"]["template"]["metadata"]["labels"])
                self._spawn(self._start_later(self.standins[name]))
        for name in [n for n in self.standins if n not in live and self.standins[n].up]:
            await self.standins[name].stop()

    def _standin_for(self, sts: Manifest) -> StandIn:
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        context = PodContext(f"{sts['metadata']['name']}-0", self.namespace, "", "")
        env = container_env(container, context, self.lookup)
        image = container["image"]
        if image.startswith(("mysql:", "mariadb:")):
            return MySQLStandIn(
                self.mysql_server, env["MYSQL_DATABASE"], env["MYSQL_USER"], env["MYSQL_PASSWORD"]
            )
        if image.startswith("redis:"):
            return RedisStandIn(password=env.get("REDISCLI_AUTH"))
        raise LookupError(f"no stand-in for the image {image}")

    async def _start_later(self, standin: StandIn) -> None:
        await asyncio.sleep(self.standin_delay_s)
        await standin.start()

    # --- Deployments and their pods -----------------------------------------------------

    async def _deployments(self) -> None:
        live = {d["metadata"]["name"]: d for d in self.live("Deployment")}
        for name, deployment in live.items():
            await self._reconcile(name, deployment)
        for pod in list(self.pods.values()):
            if pod.owner.startswith("deployment/") and pod.owner[11:] not in live:
                self._stop(pod)

    async def _reconcile(self, name: str, deployment: Manifest) -> None:
        desired = int(deployment["spec"].get("replicas", 1))
        mine = [p for p in self.pods.values() if p.owner == f"deployment/{name}"]
        active = [p for p in mine if not p.terminating and not p.gone]
        current = template_hash(deployment["spec"]["template"])
        old = [p for p in active if p.template_hash != current]
        if old:
            await self._roll(name, deployment, desired, active, old)
        else:
            for _ in range(desired - len(active)):
                await self._create_pod(name, deployment)
            if len(active) > desired:
                annotations = {p.name: self._pod_annotations(p.name) for p in active}
                costs = {
                    name: deletion_cost(a) if COST in a else None for name, a in annotations.items()
                }
                unready = {p.name for p in active if not p.ready}
                for victim in scale_down_order(active, annotations)[: len(active) - desired]:
                    self.scale_downs.append((victim.name, costs, unready))
                    self._stop(victim)
        ready = sum(1 for p in mine if p.ready)
        status = {"replicas": len(active), "readyReplicas": ready, "availableReplicas": ready}
        key = f"deployment/{name}"
        if self._statuses.get(key) != json.dumps(status):
            self._statuses[key] = json.dumps(status)
            with contextlib.suppress(ApiError):
                await self.request("PATCH", self.path(deployment) + "/status", {"status": status})

    async def _roll(
        self, name: str, deployment: Manifest, desired: int, active: list[Pod], old: list[Pod]
    ) -> None:
        """One step of a RollingUpdate: remove old pods while at least ``desired -
        maxUnavailable`` ready pods remain (unready old pods first), and add new ones while
        there are at most ``desired + maxSurge`` pods."""
        surge, unavailable = rolling_limits(deployment, desired)
        removable = sum(1 for p in active if p.ready) - (desired - unavailable)
        kept = []
        for pod in sorted(old, key=lambda p: p.ready):
            if not pod.ready or removable > 0:
                removable -= 1 if pod.ready else 0
                self._stop(pod)
            else:
                kept.append(pod)
        new = len(active) - len(old)
        total = new + len(kept)
        while total < desired + surge and new < desired:
            await self._create_pod(name, deployment)
            total, new = total + 1, new + 1

    def _pod_annotations(self, name: str) -> dict[str, str]:
        pod = self.get("v1", "Pod", name)
        return dict((pod or {}).get("metadata", {}).get("annotations") or {})

    async def _create_pod(self, owner: str, workload: Manifest, *, kind: str = "deployment") -> Pod:
        template = workload["spec"]["template"]
        digest = template_hash(template)
        suffix = uuid.uuid4().hex[:5]
        name = f"{owner}-{digest}-{suffix}" if kind == "deployment" else f"{owner}-{suffix}"
        n = next(self._ips)
        pod = Pod(
            name=name,
            namespace=self.namespace,
            owner=f"{kind}/{owner}",
            ip=f"127.1.{n // 250}.{n % 250 + 1}",
            labels=dict(template["metadata"].get("labels") or {}),
            spec=dict(template["spec"]),
            workdir=self.workdir / name,
            extra_env=self._cluster_env(template["spec"]),
            template_hash=digest,
        )
        pod.workdir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {**pod.labels, "pod-template-hash": digest},
                "annotations": dict(template["metadata"].get("annotations") or {}),
                "ownerReferences": [{"kind": kind.capitalize(), "name": owner}],
            },
            "spec": pod.spec,
            "status": {"phase": "Pending", "podIP": pod.ip},
        }
        await self.apply(manifest)
        self.pods[name] = pod
        self.events.append((time.monotonic(), f"create {name}"))
        await pod.start(self.image, self.lookup, restart=kind == "deployment")
        if pod.probing is not None:
            self.probed[name] = pod.probing
        return pod

    def _cluster_env(self, spec: Mapping[str, Any]) -> dict[str, str]:
        """What the cluster, not the pod spec, provides: DNS, and API credentials for pods
        that mount a service-account token; plus the application's package."""
        image = str(spec["containers"][0]["image"])
        app = self.app_images.get(image.rpartition(":")[0] or image, self.app_path)
        env = {
            **self.dns.env(),
            "PYTHONPATH": f"{HERE / 'dns'}:{app}",
        }
        if spec.get("automountServiceAccountToken", True):
            account = spec.get("serviceAccountName", "default")
            user = f"system:serviceaccount:{self.namespace}:{account}"
            config = self.workdir / f"kubeconfig-{account}"
            config.write_text(
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Config",
                        "clusters": [{"name": "e2e", "cluster": {"server": self.url}}],
                        "users": [{"name": account, "user": {"token": user}}],
                        "contexts": [
                            {"name": "e2e", "context": {"cluster": "e2e", "user": account}}
                        ],
                        "current-context": "e2e",
                    }
                )
            )
            env["KUBECONFIG"] = str(config)
        return env

    def _stop(self, pod: Pod) -> None:
        if pod.terminating or pod.gone:
            return
        if pod.ready:
            pod.endpoint_until = time.monotonic() + self.endpoint_delay_s
        pod.terminating = True
        self.events.append((time.monotonic(), f"stop {pod.name}"))
        self._spawn(self._terminate(pod))

    async def _terminate(self, pod: Pod) -> None:
        with contextlib.suppress(ApiError):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            await self.request(
                "PATCH",
                f"/api/v1/namespaces/{self.namespace}/pods/{pod.name}",
                {"metadata": {"deletionTimestamp": stamp}},
            )
        code = await pod.terminate(self.image, self.lookup)
        self.stopped[pod.name] = code
        await self._forget(pod)

    async def _forget(self, pod: Pod) -> None:
        self.pods.pop(pod.name, None)
        with contextlib.suppress(ApiError):
            await self.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{pod.name}")

    async def kill_pod(self, name: str) -> None:
        """SIGKILL a pod's container and lose the pod (a node that died with it): no
        grace, no drain; its Deployment replaces it."""
        pod = self.pods[name]
        await pod.kill()
        self.stopped[pod.name] = -9
        await self._forget(pod)

    async def _report(self) -> None:
        for pod in list(self.pods.values()):
            status = pod.status()
            if self._statuses.get(pod.name) != json.dumps(status) and not pod.gone:
                self._statuses[pod.name] = json.dumps(status)
                with contextlib.suppress(ApiError):
                    await self.request(
                        "PATCH",
                        f"/api/v1/namespaces/{self.namespace}/pods/{pod.name}/status",
                        {"status": status},
                    )

    def log_of(self, pod: str) -> str:
        """A pod's log, whether it still runs or not."""
        path = self.workdir / pod / f"{pod}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pods_of(self, deployment: str) -> list[Pod]:
        return [p for p in self.pods.values() if p.owner == f"deployment/{deployment}"]

    # --- Jobs -------------------------------------------------------------------------

    async def _plain_jobs(self) -> None:
        for job in self.live("Job"):
            name = job["metadata"]["name"]
            if name not in self.jobs and "helm.sh/hook" not in job["metadata"].get(
                "annotations", {}
            ):
                self.jobs[name] = self._spawn(self.run_job(job, applied=True))

    async def run_job(self, job: Manifest, *, applied: bool = False) -> bool:
        """Create the Job (unless it is), run its pod until one succeeds or
        ``backoffLimit`` retries fail; record the outcome in its status."""
        if not applied:
            await self.apply(job)
        name = job["metadata"]["name"]
        attempts = int(job["spec"].get("backoffLimit", 6)) + 1
        deadline = time.monotonic() + float(job["spec"].get("activeDeadlineSeconds", 600))
        succeeded = False
        for _ in range(attempts):
            pod = await self._create_pod(name, job, kind="job")
            assert pod.process is not None
            code = await pod.process.wait(max(0.0, deadline - time.monotonic()))
            pod.gone = True
            self.stopped[pod.name] = code
            if code is None:
                await pod.kill()
            await self._forget(pod)
            if code == 0:
                succeeded = True
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        state = {"succeeded": 1} if succeeded else {"failed": attempts}
        with contextlib.suppress(ApiError):
            await self.request("PATCH", self.path(job) + "/status", {"status": state})
        return succeeded

    async def run_test_pod(self, manifest: Manifest, *, timeout_s: float) -> tuple[int | None, str]:
        """``helm test``: run a hook Pod to completion; its exit code and log."""
        pod = Pod(
            name=manifest["metadata"]["name"],
            namespace=self.namespace,
            owner="test",
            ip=f"127.1.0.{250}",
            labels=dict(manifest["metadata"].get("labels") or {}),
            spec=dict(manifest["spec"]),
            workdir=self.workdir / manifest["metadata"]["name"],
            extra_env=self._cluster_env(manifest["spec"]),
        )
        pod.workdir.mkdir(parents=True, exist_ok=True)
        await self.apply(manifest)
        await pod.start(self.image, self.lookup, restart=False)
        assert pod.process is not None
        code = await pod.process.wait(timeout_s)
        if code is None:
            await pod.kill()
        await pod.kill()  # stops the prober
        await self.delete(manifest)
        return code, pod.process.tail(60)


def template_hash(template: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def rolling_limits(deployment: Manifest, desired: int) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down), Kubernetes' defaults 25 %."""
    rolling = deployment["spec"].get("strategy", {}).get("rollingUpdate", {})

    def value(key: str, *, up: bool) -> int:
        raw = rolling.get(key, "25%")
        if isinstance(raw, str) and raw.endswith("%"):
            share = desired * int(raw[:-1]) / 100
            return math.ceil(share) if up else math.floor(share)
        return int(raw)

    surge, unavailable = value("maxSurge", up=True), value("maxUnavailable", up=False)
    return surge, unavailable if surge or unavailable else 1
