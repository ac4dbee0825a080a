"""``helm upgrade`` as rendered: the migration Job runs as a pre-upgrade hook before any new
pod starts, and the api pods roll (maxSurge 1, maxUnavailable 0) without dropping a request
sent through the Service while they do, because each old pod keeps serving through its
``preStop`` until the endpoint removal has reached every proxy (one second here).
Without the preStop the same rollout drops requests: the test can tell the difference."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.k8s_e2e.conftest import FULL, Install, until

pytestmark = [pytest.mark.k8s_e2e, pytest.mark.slow, pytest.mark.timeout(480)]

API = f"{FULL}-api"


@dataclass
class Load:
    """Clients calling the API through its Service, each request on a new connection (as
    requests arrive from many clients), recording every answer."""

    url: str
    key: str
    answers: list[tuple[float, str]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, clients: int = 4) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(clients)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=10) as client:
            while True:
                try:
                    response = await client.get("/api/tasks", params={"limit": 1}, headers=headers)
                    outcome = "ok" if response.status_code == 200 else str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.answers.append((time.monotonic(), outcome))
                await asyncio.sleep(0.01)

    def failures(self, since: float, until_: float) -> list[str]:
        return [o for at, o in self.answers if since <= at <= until_ and o != "ok"]

    def failed_at(self) -> list[float]:
        return [at for at, o in self.answers if o != "ok"]

    def count(self, since: float, until_: float) -> int:
        return sum(1 for at, _ in self.answers if since <= at <= until_)


async def rollout(c: Install, *sets: str) -> tuple[float, float]:
    """Upgrade and wait until the api pods are all new and ready, the old ones gone."""
    before = {p.name for p in c.cluster.pods_of(API)}
    started = time.monotonic()
    await c.upgrade(*sets)

    def rolled() -> bool:
        pods = c.cluster.pods_of(API)
        return len(pods) == 2 and not {p.name for p in pods} & before and all(p.ready for p in pods)

    await until(rolled, within=120, what="the api pods rolled")
    return started, time.monotonic()


async def test_an_upgrade_migrates_first_and_rolls_the_api_without_dropping_a_request(
    installed_chart: Install,
) -> None:
    c = installed_chart
    await c.install()
    await c.api_up()
    load = Load(c.api_url, c.admin_key)
    load.start()
    try:
        # A rollout with the chart's preStop.
        start, end = await rollout(c, "api.podAnnotations.rollout=one")
        (hook, hook_started, hook_ended) = c.hook_runs[-1]
        assert hook == f"pre-upgrade/{FULL}-migrate"
        first_new = min(p.created for p in c.cluster.pods_of(API))
        assert hook_started >= start and hook_ended <= first_new  # the schema first
        with_prestop = load.failures(start, end)
        served = load.count(start, end)

        # Turn the preStop off: this rollout still stops pods that have one ...
        start, end = await rollout(c, "api.podAnnotations.rollout=two", "api.preStopSeconds=0")
        with_prestop += load.failures(start, end)
        served += load.count(start, end)
        # ... and these stop pods without: requests routed to them in the moment before
        # their endpoint removal reaches the proxy are refused.
        without_prestop, without_served = [], 0
        for rollout_name in ("three", "four"):
            start, end = await rollout(
                c, f"api.podAnnotations.rollout={rollout_name}", "api.preStopSeconds=0"
            )
            without_prestop += load.failures(start, end)
            without_served += load.count(start, end)
    finally:
        await load.stop()
    assert served > 100, "too little traffic to judge"
    listener = c.cluster.services[API][0].changes
    readiness = {name: p.transitions for name, p in c.cluster.probed.items()}
    assert with_prestop == [], (load.failed_at(), listener, c.cluster.events, readiness)
    assert without_prestop, "without a preStop the rollout should have dropped requests"
    print(
        f"rollout with preStop: {served} requests, 0 failed; without: "
        f"{len(without_prestop)} of {without_served} failed ({set(without_prestop)})"
    )
