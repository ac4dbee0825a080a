"""The live layer across real processes (DESIGN §5): two or more ``skiplock serve``
instances sharing one MariaDB database and one Redis.

- Server-Sent Events: a change committed on one instance streams from another, in order;
  ``Last-Event-ID`` (header or ``?last_event_id=``) resumes on any instance with exactly
  the missed events; a tenant key sees only its tenant; connection limits, headers and
  heartbeats.
- Wake-ups: Redis pub/sub starts work submitted on another instance long before a slow
  poll would.
- The worker registry: ``GET /api/workers`` shows slots, busy slots and running tasks;
  a SIGKILLed instance leaves it within the TTL.
- ``/metrics`` counts what was done, on every role's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import services
from tests.processes import EngineProcess

pytestmark = pytest.mark.slow

T = TypeVar("T")
Spawn = Callable[..., EngineProcess]
TERMINAL = ("succeeded", "dead")


# --- processes ------------------------------------------------------------------------


class Launcher:
    """Starts ``skiplock serve *args`` with ``SKIPLOCK_<KEY>=value`` for each keyword, on
    one database and one Redis key prefix, and kills them all in the end."""

    def __init__(self, database_url: str, redis_url: str, redis_prefix: str, logs: Path) -> None:
        self.database_url = database_url
        self.env = {
            "SKIPLOCK_REDIS_URL": redis_url,
            "SKIPLOCK_REDIS_PREFIX": redis_prefix,
            "SKIPLOCK_COMPLETE_FLUSH_S": "0",
        }
        self.logs = logs
        self.started: list[EngineProcess] = []

    def __call__(self, *args: str, **env: Any) -> EngineProcess:
        p = EngineProcess(
            self.database_url,
            env={**self.env, **{f"SKIPLOCK_{k}": str(v) for k, v in env.items()}},
            args=list(args),
            log_path=self.logs / f"engine-{len(self.started)}.log",
        )
        self.started.append(p)
        return p.start()

    def kill_all(self) -> None:
        for p in self.started:
            p.kill()


@pytest.fixture
def spawn(tmp_path: Path, mysql_url: str, redis_url: str, redis_prefix: str) -> Iterator[Spawn]:
    """Processes of this test alone: its own database and Redis key prefix."""
    launch = Launcher(mysql_url, redis_url, redis_prefix, tmp_path)
    yield launch
    launch.kill_all()


@dataclass(frozen=True)
class Cluster:
    front: EngineProcess  # --role api: accepts work, runs none
    worker: EngineProcess  # every role, 4 slots, and a slow 5 s poll: wake-ups must do


@pytest.fixture(scope="module")
def cluster(
    mysql_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two instances shared by the streaming tests of this module (starting processes is
    what takes time). Each such test waits for its own tasks to finish, so the next one
    starts on a quiet stream."""
    name = f"skiplock_t_{uuid.uuid4().hex[:12]}"
    _sql(mysql_server, f"CREATE DATABASE {name}")
    launch = Launcher(
        f"{mysql_server}/{name}",
        redis_server,
        f"sktest:{uuid.uuid4().hex[:10]}",
        tmp_path_factory.mktemp("cluster"),
    )
    try:
        worker = launch(WORKERS=4, POLL_INTERVAL_S=5)
        yield Cluster(front=launch("--role", "api"), worker=worker)
    finally:
        launch.kill_all()
        _sql(mysql_server, f"DROP DATABASE IF EXISTS {name}")


def _sql(server: str, statement: str) -> None:
    conn = services._mysql_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def api(p: EngineProcess, key: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=p.url,
        headers={"Authorization": f"Bearer {key or p.admin_key}"},
        timeout=30,
    )


def instance_prefix(p: EngineProcess) -> str:
    return f"test-{p.port}:"  # EngineProcess sets SKIPLOCK_INSTANCE_ID=test-<port>


async def until(check: Callable[[], Awaitable[T | None]], *, timeout_s: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def submit(client: httpx.AsyncClient, tasks: list[dict[str, Any]]) -> list[int]:
    r = await client.post("/api/tasks/batch", json={"tasks": tasks})
    assert r.status_code == 201, r.text
    return [int(t["id"]) for t in r.json()["items"]]


async def all_finished(client: httpx.AsyncClient, ids: list[int]) -> list[dict[str, Any]] | None:
    got = [(await client.get(f"/api/tasks/{i}")).json() for i in ids]
    return got if all(t["state"] in TERMINAL for t in got) else None


# --- Server-Sent Events -----------------------------------------------------------------


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: Any = None
    comments: list[str] = field(default_factory=list)


def sid(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


class LiveStream:
    """One SSE connection, read into ``frames`` by a background task until closed."""

    def __init__(
        self,
        p: EngineProcess,
        key: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=p.url,
            headers={"Authorization": f"Bearer {key or p.admin_key}", **(headers or {})},
            timeout=httpx.Timeout(10.0, read=None),
        )
        self._params = params
        self.frames: list[Frame] = []
        self.response: httpx.Response | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveStream:
        request = self._client.build_request("GET", "/api/sse/events", params=self._params)
        self.response = await self._client.send(request, stream=True)
        if self.response.status_code != 200:
            body = await self.response.aread()
            await self.__aexit__()
            pytest.fail(f"SSE connect: {self.response.status_code} {body!r}")
        self._reader = asyncio.create_task(self._read())
        # The server fixes its read position before this first comment: once it is here,
        # nothing published afterwards can be missed.
        await self.wait_for(
            lambda: any("connected" in f.comments for f in self.frames), 10, "the greeting"
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._reader
        if self.response is not None:
            await self.response.aclose()
        await self._client.aclose()

    async def _read(self) -> None:
        assert self.response is not None
        frame = Frame()
        data: list[str] = []
        async for line in self.response.aiter_lines():
            if line == "":
                if data:
                    frame.data = json.loads("\n".join(data))
                if data or frame.comments or frame.id or frame.event:
                    self.frames.append(frame)
                frame, data = Frame(), []
            elif line.startswith(":"):
                frame.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    frame.id = value
                elif name == "event":
                    frame.event = value
                elif name == "data":
                    data.append(value)

    async def wait_for(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if self._reader is not None and self._reader.done():
                exc = self._reader.exception()
                pytest.fail(f"SSE stream ended while waiting for {what}: {exc!r}")
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout_s} s waiting for {what} on the stream")
            await asyncio.sleep(0.02)

    @property
    def tasks(self) -> list[Frame]:
        return [f for f in self.frames if f.event == "task"]

    def states(self, task_id: int) -> list[str]:
        return [f.data["state"] for f in self.tasks if f.data["id"] == task_id]

    def finished(self, ids: list[int]) -> bool:
        return all(self.states(i)[-1:] in (["succeeded"], ["dead"]) for i in ids)

    @property
    def ids(self) -> list[str]:
        return [f.id for f in self.tasks if f.id is not None]


def caught_up(stream: LiveStream, expected: list[str]) -> bool:
    return stream.ids[-1:] == expected[-1:]


def assert_ordered_unique(ids: list[str]) -> None:
    keys = [sid(i) for i in ids]
    assert keys == sorted(keys), ids
    assert len(set(keys)) == len(keys), ids


async def test_a_task_submitted_on_one_instance_streams_from_the_other_in_order(
    cluster: Cluster,
) -> None:
    a, b = cluster.front, cluster.worker
    async with LiveStream(b, a.admin_key) as stream, api(a) as ca:
        [task_id] = await submit(ca, [{"type": "async_sleep", "payload": {"seconds": 0.2}}])
        await stream.wait_for(lambda: stream.finished([task_id]), 10, f"task {task_id} done")
        mine = [f for f in stream.tasks if f.data["id"] == task_id]
    assert [f.data["state"] for f in mine] == ["queued", "running", "succeeded"]
    assert [f.data["attempt"] for f in mine] == [0, 1, 1]
    assert {(f.data["tenant"], f.data["type"]) for f in mine} == {("default", "async_sleep")}
    assert all(f.id for f in mine)
    assert_ordered_unique([f.id for f in mine if f.id])
    for f in mine:
        datetime.fromisoformat(f.data["at"])  # a timestamp


async def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_events_anywhere(
    cluster: Cluster,
) -> None:
    a, b = cluster.front, cluster.worker
    noop = {"type": "noop"}
    async with LiveStream(a) as reference, api(a) as ca, api(b) as cb:
        async with LiveStream(b) as first:
            before = await submit(ca, [noop] * 3)
            await first.wait_for(lambda: first.finished(before), 10, "the first batch")
            seen = first.ids
        last_seen = seen[-1]
        # Disconnected: more work happens, and finishes.
        missed = await submit(cb, [noop] * 4)
        await reference.wait_for(lambda: reference.finished(missed), 10, "the missed batch")
        expected = [i for i in reference.ids if sid(i) > sid(last_seen)]
        assert reference.ids[: len(reference.ids) - len(expected)] == seen  # one shared order
        assert len(expected) == 3 * len(missed)

        async with (
            LiveStream(a, headers={"Last-Event-ID": last_seen}) as by_header,
            LiveStream(b, params={"last_event_id": last_seen}) as by_query,
        ):
            for resumed in (by_header, by_query):
                await resumed.wait_for(partial(caught_up, resumed, expected), 10, "the missed")
                assert resumed.ids == expected  # none missing, no duplicates, none old
                assert_ordered_unique(resumed.ids)
                got = {(f.data["id"], f.data["state"]) for f in resumed.tasks}
                assert got == {(i, s) for i in missed for s in ("queued", "running", "succeeded")}
            # Resumed streams are live too.
            [later] = await submit(ca, [noop])
            for resumed in (by_header, by_query):
                await resumed.wait_for(partial(resumed.finished, [later]), 10, "live events")
                assert_ordered_unique(resumed.ids)


async def test_a_tenant_key_never_receives_another_tenants_events(cluster: Cluster) -> None:
    a, b = cluster.front, cluster.worker
    async with api(a) as admin:
        keys = {}
        for name in ("red", "blue"):
            r = await admin.post("/api/tenants", json={"name": name})
            assert r.status_code == 201, r.text
            keys[name] = r.json()["api_key"]
    async with (
        LiveStream(a) as everything,
        LiveStream(a, keys["red"]) as red_stream,
        LiveStream(b, keys["blue"]) as blue_stream,
        api(b, keys["red"]) as red,
        api(a, keys["blue"]) as blue,
    ):
        ids: dict[str, list[int]] = {"red": [], "blue": []}
        for _round in range(3):  # interleaved submissions on both instances
            ids["red"] += await submit(red, [{"type": "noop"}] * 2)
            ids["blue"] += await submit(blue, [{"type": "noop"}] * 2)
        await everything.wait_for(
            lambda: everything.finished(ids["red"] + ids["blue"]), 15, "all tasks"
        )
        # A last task each: once a stream shows it, it has read past everything above.
        ids["red"] += await submit(red, [{"type": "noop"}])
        ids["blue"] += await submit(blue, [{"type": "noop"}])
        for stream, name in ((red_stream, "red"), (blue_stream, "blue")):
            await stream.wait_for(partial(stream.finished, ids[name]), 10, name)
    for stream, name in ((red_stream, "red"), (blue_stream, "blue")):
        assert {f.data["id"] for f in stream.tasks} == set(ids[name])
        assert {f.data["tenant"] for f in stream.tasks} == {name}
        assert not [f for f in stream.frames if f.event not in (None, "task")]
    assert {f.data["tenant"] for f in everything.tasks} == {"red", "blue"}


async def test_sse_limits_connections_sets_streaming_headers_and_sends_heartbeats(
    spawn: Spawn,
) -> None:
    p = spawn(WORKERS=0, SSE_MAX_CONNECTIONS=2, SSE_HEARTBEAT_S=1)
    async with LiveStream(p) as first, api(p) as client:
        assert first.response is not None
        headers = first.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["x-accel-buffering"] == "no"
        assert headers["cache-control"] == "no-cache"
        async with LiveStream(p) as second:
            third = await client.get("/api/sse/events")
            assert third.status_code == 503, third.text
            assert third.json()["error"] == "unavailable"
            assert int(third.headers["retry-after"]) > 0
            metrics = (await client.get("/metrics")).text
            assert sample(metrics, "skiplock_sse_connections") == 2
            await second.wait_for(
                lambda: any("heartbeat" in f.comments for f in second.frames), 3, "a heartbeat"
            )

        # Closing a stream frees its slot.
        async def reconnects() -> bool:
            async with client.stream("GET", "/api/sse/events") as r:
                return r.status_code == 200

        await until(reconnects, timeout_s=5, what="a freed SSE slot")
        await first.wait_for(
            lambda: sum("heartbeat" in f.comments for f in first.frames) >= 2, 3, "heartbeats"
        )


# --- wake-ups ----------------------------------------------------------------------------


async def test_redis_wake_ups_start_work_submitted_on_another_instance_at_once(
    cluster: Cluster,
) -> None:
    front, worker = cluster.front, cluster.worker  # the worker polls only every 5 s
    async with api(front) as client:
        await until(lambda: listed(client, worker), timeout_s=10, what="the worker to register")
        for _ in range(3):  # each right after the last finished: the poller just slept
            [task_id] = await submit(client, [{"type": "noop"}])
            [task] = await until(
                partial(all_finished, client, [task_id]), timeout_s=8, what="the task"
            )
            assert task["state"] == "succeeded"
            waited = datetime.fromisoformat(task["started_at"]) - datetime.fromisoformat(
                task["created_at"]
            )
            assert waited.total_seconds() < 1.0, f"started {waited} after submission"


# --- the worker registry ---------------------------------------------------------------------


async def workers(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    r = await client.get("/api/workers")
    assert r.status_code == 200, r.text
    return {i["id"]: i for i in r.json()["instances"]}


def entry(found: dict[str, dict[str, Any]], p: EngineProcess) -> dict[str, Any] | None:
    return next((i for k, i in found.items() if k.startswith(instance_prefix(p))), None)


async def listed(client: httpx.AsyncClient, p: EngineProcess) -> dict[str, Any] | None:
    return entry(await workers(client), p)


async def test_workers_show_slots_busy_and_running_tasks_and_a_killed_instance_leaves(
    spawn: Spawn,
) -> None:
    ttl = 2.0
    a = spawn(WORKERS=3, REGISTRY_TTL_S=ttl)
    b = spawn(WORKERS=2, REGISTRY_TTL_S=ttl)
    async with api(b) as client:
        found = await until(lambda: _both(client, a, b), timeout_s=10, what="both instances listed")
        for p, slots in ((a, 3), (b, 2)):
            e = entry(found, p)
            assert e is not None
            assert (e["slots"], e["busy"], e["tasks"]) == (slots, 0, [])
            assert set(e["roles"]) == {"api", "worker", "maintenance"}
            datetime.fromisoformat(e["last_heartbeat"])

        ids = await submit(
            client, [{"type": "async_sleep", "payload": {"seconds": 60}} for _ in range(5)]
        )

        async def all_running() -> dict[str, dict[str, Any]] | None:
            now = await workers(client)
            ea, eb = entry(now, a), entry(now, b)
            if ea and eb and ea["busy"] == 3 and eb["busy"] == 2:
                return now
            return None

        found = await until(all_running, timeout_s=10, what="every slot busy")
        runs_on: dict[int, EngineProcess] = {}
        for p, slots in ((a, 3), (b, 2)):
            e = entry(found, p)
            assert e is not None
            assert len(e["tasks"]) == slots
            for t in e["tasks"]:
                assert (t["type"], t["tenant"], t["attempt"]) == ("async_sleep", "default", 1)
                datetime.fromisoformat(t["started_at"])
                runs_on[t["id"]] = p
        assert sorted(runs_on) == sorted(ids)
        for i, p in runs_on.items():  # and the database agrees on who runs what
            task = (await client.get(f"/api/tasks/{i}")).json()
            assert task["state"] == "running"
            assert task["lease_owner"].startswith(instance_prefix(p))

        assert await listed(client, a) is not None
        a.kill()  # SIGKILL: no deregistration, the heartbeats just stop
        killed_at = time.monotonic()
        await until(
            lambda: _gone(client, a), timeout_s=ttl + 1, what="the killed instance to vanish"
        )
        elapsed = time.monotonic() - killed_at
        survivor = await listed(client, b)
        assert survivor is not None, "the surviving instance vanished too"
        assert survivor["busy"] == 2
    assert elapsed <= ttl + 1


async def _both(
    client: httpx.AsyncClient, a: EngineProcess, b: EngineProcess
) -> dict[str, dict[str, Any]] | None:
    found = await workers(client)
    return found if entry(found, a) and entry(found, b) else None


async def _gone(client: httpx.AsyncClient, p: EngineProcess) -> bool:
    return await listed(client, p) is None


# --- /metrics ----------------------------------------------------------------------------------


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called ``name`` whose labels include ``labels``."""
    return [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    ]


def sample(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


async def test_metrics_match_the_work_done_on_every_roles_port(spawn: Spawn) -> None:
    n_ok, m_dead, k_paused = 6, 3, 4
    front = spawn(WORKERS=2, RETRY_BASE_S=0)
    worker = spawn("--role", "worker", WORKERS=3, RETRY_BASE_S=0)
    async with api(front) as client, httpx.AsyncClient(base_url=worker.url) as bare:
        # The worker-only process answers health and metrics on its own port, unauthenticated.
        health = await bare.get("/api/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ids = await submit(
            client,
            [{"type": "noop"}] * n_ok + [{"type": "fail", "max_attempts": 1}] * m_dead,
        )
        done = await until(lambda: all_finished(client, ids), timeout_s=15, what="all tasks")
        assert sorted(t["state"] for t in done) == ["dead"] * m_dead + ["succeeded"] * n_ok

        r = await client.post("/api/tenants", json={"name": "paused-co"})
        assert r.status_code == 201, r.text
        r = await client.post("/api/tenants/paused-co/pause")
        assert r.status_code == 200, r.text
        await submit(client, [{"type": "noop", "tenant": "paused-co"}] * k_paused)

        async def scrape(c: httpx.AsyncClient) -> str:
            r = await c.get("/metrics")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/plain")
            return r.text

        async def settled() -> tuple[str, str] | None:
            texts = await scrape(client), await scrape(bare)
            completed = "skiplock_tasks_completed_total"
            total = sum(sample(t, completed) for t in texts)
            depth = [
                sample(t, "skiplock_queue_depth", tenant="paused-co", state="queued") for t in texts
            ]
            return texts if total == n_ok + m_dead and depth == [k_paused] * 2 else None

        front_text, worker_text = await until(settled, timeout_s=10, what="the metrics")

    completed = "skiplock_tasks_completed_total"
    both = (front_text, worker_text)
    assert sum(sample(t, completed, outcome="succeeded", type="noop") for t in both) == n_ok
    assert sum(sample(t, completed, outcome="dead", type="fail") for t in both) == m_dead
    assert sum(sample(t, completed, outcome="failed") for t in both) == 0
    assert sum(sample(t, completed, tenant="default") for t in both) == n_ok + m_dead

    submitted = "skiplock_tasks_submitted_total"
    assert sample(front_text, submitted, tenant="default") == n_ok + m_dead
    assert sample(front_text, submitted, tenant="default", type="noop") == n_ok
    assert sample(front_text, submitted, tenant="default", type="fail") == m_dead
    assert sample(front_text, submitted, tenant="paused-co") == k_paused
    assert sample(worker_text, submitted) == 0  # it accepted nothing

    assert (
        sample(front_text, "skiplock_dead_lettered_total", type="fail")
        + sample(worker_text, "skiplock_dead_lettered_total", type="fail")
        == m_dead
    )
    for text in both:
        assert sample(text, "skiplock_queue_depth", tenant="default", state="queued") == 0
    slots = samples(worker_text, "skiplock_worker_slots")
    assert slots == [3.0]
    [(instance, _)] = [
        (s.labels["instance"], s.value)
        for f in text_string_to_metric_families(worker_text)
        for s in f.samples
        if s.name == "skiplock_worker_slots"
    ]
    assert instance.startswith(instance_prefix(worker))
    runs = sum(sample(t, "skiplock_task_run_seconds_count") for t in both)
    assert runs == n_ok + m_dead
