"""Fixtures for running the operator for real: kopf against the kmock Kubernetes emulator,
talking to a real ``skiplock serve`` subprocess over HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import kmock
import kopf
import pytest

from skiplock_operator.config import OperatorConfig
from skiplock_operator.handlers import kube_from, register

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
TASKQUEUES = "skiplock.dev/v1alpha1/taskqueues"
DEPLOYMENTS = "apps/v1/deployments"
SECRETS = "v1/secrets"
PODS = "v1/pods"
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    *,
    within: float = 20.0,
    interval: float = 0.1,
    message: str = "condition not met",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``within`` seconds with
    the last value seen. This is synchronisation by condition, not by sleeping."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        result = probe()
        last = await result if asyncio.iscoroutine(result) else result
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail(f"{message} within {within}s; last value: {last!r}")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the engine -------------------------------------------------------------------------


@dataclass
class Engine:
    url: str
    admin_key: str
    reader_key: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key or self.admin_key}"},
            timeout=10.0,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _skiplock_command() -> list[str]:
    exe = Path(sys.executable).with_name("skiplock")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "skiplock.cli"]


@pytest.fixture
def engine_urls() -> list[str]:
    """The URLs of the engines a test started: the operator's allow-list in run_operator."""
    return []


@pytest.fixture
def start_engine(
    tmp_path: Path, engine_urls: list[str]
) -> Iterator[Callable[..., Awaitable[Engine]]]:
    """start_engine(role="all", workers=2) -> a live engine on a spare port, SQLite in tmp
    unless ``database_url`` (and ``redis_url``, ``redis_prefix``) say otherwise."""
    processes: list[subprocess.Popen[bytes]] = []

    async def start(
        *,
        role: str = "all",
        workers: int = 2,
        database_url: str | None = None,
        redis_url: str | None = None,
        redis_prefix: str | None = None,
        instance_id: str | None = None,
        admin_key: str | None = None,
        reader_key: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Engine:
        port = free_port()
        key = admin_key or f"sk_optest01_{secrets.token_hex(16)}"
        reader = reader_key or f"sk_optestrd_{secrets.token_hex(16)}"
        log = tmp_path / f"engine-{port}.log"
        env = {
            **os.environ,
            "SKIPLOCK_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'op.db'}",
            "SKIPLOCK_ADMIN_KEY": key,
            "SKIPLOCK_READER_KEY": reader,
            "SKIPLOCK_PORT": str(port),
            "SKIPLOCK_WORKERS": str(workers),
            "SKIPLOCK_POLL_INTERVAL_S": "0.1",
            "SKIPLOCK_REGISTRY_TTL_S": "2",
        }
        env.pop("SKIPLOCK_REDIS_URL", None)
        env.pop("SKIPLOCK_INSTANCE_ID", None)
        if redis_url:
            env["SKIPLOCK_REDIS_URL"] = redis_url
        if redis_prefix:
            env["SKIPLOCK_REDIS_PREFIX"] = redis_prefix
        if instance_id:
            env["SKIPLOCK_INSTANCE_ID"] = instance_id
        env.update(extra or {})
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
                [*_skiplock_command(), "serve", "--role", role],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        processes.append(process)
        engine = Engine(f"http://127.0.0.1:{port}", key, reader, process, log)
        engine_urls.append(engine.url)

        async def healthy() -> bool:
            if process.poll() is not None:
                pytest.fail(f"skiplock serve exited with {process.returncode}:\n{engine.logs()}")
            try:
                async with engine.client() as client:
                    return (await client.get("/api/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, within=30, message="the engine did not become ready")
        return engine

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the Kubernetes emulator -----------------------------------------------------------


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator, plus server-side ``generateName`` (kopf names events that way),
    and a record of every scale patch with the pods' annotations at that moment."""

    scale_patches: list[dict[str, Any]]

    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if meta.get("generateName") and not meta.get("name"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:8]}"
        if str(request.method).upper().endswith("PATCH") and request.url.path.endswith("/scale"):
            pods = {
                name: dict((obj.get("metadata") or {}).get("annotations") or {})
                for (resource, _, name), obj in list(self.objects.items())
                if resource.plural == "pods" and not obj.deleted
            }
            if not hasattr(self, "scale_patches"):
                self.scale_patches = []
            self.scale_patches.append(
                {"path": request.url.path, "body": request.data, "pods": pods}
            )
        return await super()._handle(request)


@pytest.fixture
async def k8s() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    async with emulator, kmock.Server(emulator):
        for resource, kind, subresources in [
            (TASKQUEUES, "TaskQueue", {"status"}),
            (DEPLOYMENTS, "Deployment", {"scale"}),
            (SECRETS, "Secret", set()),
            (PODS, "Pod", set()),
            ("v1/events", "Event", set()),
        ]:
            emulator.resources[resource] = kmock.ResourceInfo(
                kind=kind, namespaced=True, verbs=VERBS, subresources=subresources
            )
        # kopf waits for these core resources to be discoverable before it serves anything.
        emulator.resources["v1/namespaces"] = kmock.ResourceInfo(
            kind="Namespace", namespaced=False, verbs=VERBS
        )
        emulator.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = (
            kmock.ResourceInfo(kind="CustomResourceDefinition", namespaced=False, verbs=VERBS)
        )
        yield emulator


def deployment(
    name: str, replicas: int, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid4()),
            "annotations": annotations or {},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "worker", "image": "skiplock"}]},
            },
        },
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def admin_secret(
    name: str, key: str | None, *, reader: str | None = None, **more: str
) -> dict[str, Any]:
    """A Secret with the fixed entries the operator reads (and ``more`` it must not)."""
    data = {"admin-key": key, "reader-key": reader, **more}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": str(uuid.uuid4())},
        "data": {k: b64(v) for k, v in data.items() if v is not None},
    }


def taskqueue(
    name: str,
    *,
    worker: str,
    engine_url: str | None,
    secret: str,
    created: str = "2026-01-01T00:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    engine: dict[str, Any] = {"adminKeySecretRef": {"name": secret}}
    if engine_url is not None:
        engine["url"] = engine_url
    return {
        "apiVersion": "skiplock.dev/v1alpha1",
        "kind": "TaskQueue",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": created,
        },
        "spec": {"workerRef": {"name": worker}, "engine": engine, **spec},
    }


# --- the operator ----------------------------------------------------------------------


@pytest.fixture
async def run_operator(
    k8s: Emulator, engine_urls: list[str]
) -> AsyncIterator[Callable[..., Awaitable[Callable[[], Awaitable[None]]]]]:
    """run_operator(peering=None, allowed=None) starts kopf with the real handlers, logged
    in to the emulator: standalone, or as a peer of the named KopfPeering. The operator
    may talk to ``allowed`` engines (default: every engine the test started). It returns a
    coroutine function that stops that operator (as a restart would); all are stopped at
    the end.

    kopf runs in its own thread and event loop, as kopf's embedding guide shows: on exit it
    waits for every task of its loop, and in the test's loop those include the emulator's
    never-ending watch streams."""
    stops: list[threading.Event] = []
    threads: list[threading.Thread] = []
    failures: list[BaseException] = []

    async def start(
        peering: str | None = None, allowed: list[str] | None = None
    ) -> Callable[[], Awaitable[None]]:
        config = OperatorConfig(
            engine_urls=tuple(engine_urls if allowed is None else allowed),
            watch_namespaces=(NAMESPACE,),
        )
        stop = threading.Event()
        stops.append(stop)
        registry = register(kopf.OperatorRegistry(), login=False)
        server = str(k8s.url).rstrip("/")

        @kopf.on.login(registry=registry)
        def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
            info = kopf.ConnectionInfo(server=server, default_namespace=NAMESPACE)
            kube_from(memo).use(info)
            return info

        settings = kopf.OperatorSettings()
        settings.watching.reconnect_backoff = 0.1
        ready = threading.Event()

        def main() -> None:
            try:
                asyncio.run(
                    kopf.operator(
                        registry=registry,
                        settings=settings,
                        standalone=peering is None,
                        peering_name=peering,
                        priority=100 if peering else None,
                        namespaces=[NAMESPACE],
                        stop_flag=stop,
                        ready_flag=ready,
                        memo=kopf.Memo(config=config),
                    )
                )
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=main, name="kopf", daemon=True)
        thread.start()
        threads.append(thread)
        if not await asyncio.to_thread(ready.wait, 15):
            pytest.fail(f"the operator did not start: {failures!r}")

        async def stop_this() -> None:
            stop.set()
            await asyncio.to_thread(thread.join, 30)
            assert not thread.is_alive(), "the operator did not stop within 30 s"

        return stop_this

    yield start
    for stop in stops:
        stop.set()
    for thread in threads:
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the operator did not stop within 30 s"
    if failures:
        raise failures[0]
