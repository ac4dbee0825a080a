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

from engine_operator.handlers import kube_from, register

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
TASKQUEUES = "skiplock.dev/v1alpha1/taskqueues"
DEPLOYMENTS = "apps/v1/deployments"
SECRETS = "v1/secrets"
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
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=10.0,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _skiplock_command() -> list[str]:
    exe = Path(sys.executable).with_name("skiplock")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli"]


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., Awaitable[Engine]]]:
    """start_engine(role="all", workers=2) -> a live engine on a spare port, SQLite in tmp."""
    processes: list[subprocess.Popen[bytes]] = []

    async def start(*, role: str = "all", workers: int = 2) -> Engine:
        port = free_port()
        key = f"sk_optest01_{secrets.token_hex(16)}"
        log = tmp_path / f"engine-{port}.log"
        env = {
            **os.environ,
            "SKIPLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'op.db'}",
            "SKIPLOCK_ADMIN_KEY": key,
            "SKIPLOCK_PORT": str(port),
            "SKIPLOCK_WORKERS": str(workers),
            "SKIPLOCK_POLL_INTERVAL_S": "0.1",
        }
        env.pop("SKIPLOCK_REDIS_URL", None)
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
                [*_skiplock_command(), "serve", "--role", role],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        processes.append(process)
        engine = Engine(f"http://127.0.0.1:{port}", key, process, log)

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
    """kmock's emulator, plus server-side ``generateName`` (kopf names events that way)."""

    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if meta.get("generateName") and not meta.get("name"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:8]}"
        return await super()._handle(request)


@pytest.fixture
async def k8s() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    async with emulator, kmock.Server(emulator):
        for resource, kind, subresources in [
            (TASKQUEUES, "TaskQueue", {"status"}),
            (DEPLOYMENTS, "Deployment", {"scale"}),
            (SECRETS, "Secret", set()),
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


def admin_secret(name: str, key: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": str(uuid.uuid4())},
        "data": {"admin-key": base64.b64encode(key.encode()).decode()},
    }


def taskqueue(
    name: str, *, worker: str, engine_url: str, secret: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "skiplock.dev/v1alpha1",
        "kind": "TaskQueue",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": "1",
        },
        "spec": {
            "workerRef": {"name": worker},
            "engine": {"url": engine_url, "adminKeySecretRef": {"name": secret}},
            **spec,
        },
    }


# --- the operator ----------------------------------------------------------------------


@pytest.fixture
async def run_operator(
    k8s: Emulator,
) -> AsyncIterator[Callable[..., Awaitable[Callable[[], Awaitable[None]]]]]:
    """run_operator(peering=None) starts kopf with the real handlers, logged in to the
    emulator: standalone, or as a peer of the named KopfPeering. It returns a coroutine
    function that stops that operator (as a restart would); all are stopped at the end.

    kopf runs in its own thread and event loop, as kopf's embedding guide shows: on exit it
    waits for every task of its loop, and in the test's loop those include the emulator's
    never-ending watch streams."""
    stops: list[threading.Event] = []
    threads: list[threading.Thread] = []
    failures: list[BaseException] = []

    async def start(peering: str | None = None) -> Callable[[], Awaitable[None]]:
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
                        memo=kopf.Memo(),
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
