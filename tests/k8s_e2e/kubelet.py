"""A pod's life: start its container as a process, probe it, restart it when it exits
(``restartPolicy: Always``), and stop it the way the kubelet does.

Stopping: the pod leaves its Services' endpoints at once; a ``preStop`` exec hook runs
(in the container's environment); then SIGTERM; what is still running when
``terminationGracePeriodSeconds`` (counted from the start, preStop included) have passed
gets SIGKILL. Liveness probes are not run: no test here depends on a restart by liveness.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.k8s_e2e.pods import (
    Image,
    Lookup,
    PodContext,
    Probing,
    Process,
    command_line,
    container_env,
    container_ports,
)


@dataclass
class Pod:
    """One pod of a Deployment (or a Job), with its single container as a process."""

    name: str
    namespace: str
    owner: str
    ip: str
    labels: dict[str, str]
    spec: dict[str, Any]
    workdir: Path
    extra_env: dict[str, str]
    template_hash: str = ""
    created: float = field(default_factory=time.monotonic)
    # Until when proxies still send it connections after it began terminating: endpoint
    # removal takes a moment to reach every kube-proxy and ingress controller.
    endpoint_until: float = 0.0
    process: Process | None = None
    probing: Probing | None = None
    restarts: int = 0
    terminating: bool = False
    gone: bool = False
    exit_codes: list[int] = field(default_factory=list)
    _supervisor: asyncio.Task[None] | None = None
    _prober: asyncio.Task[None] | None = None

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.spec["containers"]  # every pod of the chart has one
        result: dict[str, Any] = container
        return result

    @property
    def ports(self) -> dict[str, int]:
        return container_ports(self.container)

    @property
    def serving(self) -> bool:
        """In its Services' endpoints: ready, or terminating while the removal propagates."""
        return self.ready or time.monotonic() < self.endpoint_until

    @property
    def ready(self) -> bool:
        return (
            not self.terminating
            and not self.gone
            and self.process is not None
            and self.process.running
            and self.probing is not None
            and self.probing.ready
        )

    def environment(self, image: Image, lookup: Lookup) -> tuple[list[str], dict[str, str]]:
        context = PodContext(
            name=self.name,
            namespace=self.namespace,
            ip=self.ip,
            service_account=self.spec.get("serviceAccountName", "default"),
        )
        env = {**image.env, **container_env(self.container, context, lookup)}
        argv = command_line(self.container, image, env)
        # The pod's network: "all interfaces" of a pod is its own address.
        if env.get("SKIPLOCK_HOST") == "0.0.0.0":
            env["SKIPLOCK_HOST"] = self.ip
        return argv, {**env, **self.extra_env}

    async def start(self, image: Image, lookup: Lookup, *, restart: bool) -> None:
        """Start (or, with ``restart``, keep restarting) the container."""
        argv, env = self.environment(image, lookup)
        self.process = Process(
            argv=argv, env=env, log=self.workdir / f"{self.name}.log", cwd=self.workdir / "cwd"
        )
        await self.process.start()
        self.probing = Probing(
            startup=self.container.get("startupProbe"),
            readiness=self.container.get("readinessProbe"),
        )
        self._prober = asyncio.create_task(self._probe())
        if restart:
            self._supervisor = asyncio.create_task(self._supervise(image, lookup))

    async def _probe(self) -> None:
        assert self.probing is not None and self.process is not None
        process = self.process
        await self.probing.run(self.ip, self.ports, lambda: process.running)

    async def _supervise(self, image: Image, lookup: Lookup) -> None:
        """``restartPolicy: Always``: a container that exits is started again, after a
        back-off (1, 2, 4 ... 10 s; the kubelet's starts at 10 s and caps at 5 min)."""
        while not self.terminating and not self.gone:
            assert self.process is not None
            code = await self.process.wait()
            if self.terminating or self.gone or code is None:
                return
            self.exit_codes.append(code)
            self.restarts += 1
            await asyncio.sleep(min(10.0, 2.0 ** (self.restarts - 1)))
            if self.terminating or self.gone:
                return
            argv, env = self.environment(image, lookup)
            self.process = Process(argv=argv, env=env, log=self.process.log, cwd=self.process.cwd)
            await self.process.start()
            self.probing = Probing(
                startup=self.container.get("startupProbe"),
                readiness=self.container.get("readinessProbe"),
            )
            self._prober = asyncio.create_task(self._probe())

    async def terminate(self, image: Image, lookup: Lookup) -> int | None:
        """The kubelet's graceful stop; returns the exit code (-9 when it had to kill)."""
        self.terminating = True
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        deadline = time.monotonic() + grace
        process = self.process
        if process is None or not process.running:
            self.gone = True
            return process.proc.returncode if process and process.proc else None
        pre_stop = self.container.get("lifecycle", {}).get("preStop", {}).get("exec")
        if pre_stop:
            hook = {"command": pre_stop["command"]}
            argv = command_line(hook, image, process.env)
            sleeper = await asyncio.create_subprocess_exec(*argv, env=process.env)
            try:
                await asyncio.wait_for(sleeper.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                sleeper.kill()
                await sleeper.wait()
        process.signal(signal.SIGTERM)
        code = await process.wait(max(0.0, deadline - time.monotonic()))
        if code is None:
            process.signal(signal.SIGKILL)
            await process.wait()
            code = -9
        await self._cancel_tasks()
        self.gone = True
        return code

    async def kill(self) -> None:
        """SIGKILL, no grace: an OOM kill or a lost node."""
        self.gone = True
        if self.process is not None:
            self.process.signal(signal.SIGKILL)
            await self.process.wait()
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        for task in (self._prober, self._supervisor):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def status(self) -> dict[str, Any]:
        ready = self.ready
        return {
            "phase": "Running" if self.process and self.process.running else "Pending",
            "podIP": self.ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": self.container["name"], "ready": ready, "restartCount": self.restarts}
            ],
        }


COST = "controller.kubernetes.io/pod-deletion-cost"


def deletion_cost(annotations: Mapping[str, str]) -> int:
    try:
        return int(annotations.get(COST, "0"))
    except ValueError:
        return 0


def scale_down_order(pods: list[Pod], annotations: Mapping[str, Mapping[str, str]]) -> list[Pod]:
    """The ReplicaSet controller's choice of pods to delete, first first
    (``ActivePodsWithRanks``): not running before running, not ready before ready, lower
    ``controller.kubernetes.io/pod-deletion-cost`` first, ready for less time first, more
    restarts first, newer first. (Node placement, which it also weighs, does not exist
    here.)"""

    def rank(pod: Pod) -> tuple[int, int, int, float, int, float]:
        running = pod.process is not None and pod.process.running
        ready_since = pod.probing.ready_since if pod.probing else None
        return (
            1 if running else 0,
            1 if pod.ready else 0,
            deletion_cost(annotations.get(pod.name, {})),
            -(ready_since or 0.0) if pod.ready else 0.0,
            -pod.restarts,
            -pod.created,
        )

    return sorted(pods, key=rank)
