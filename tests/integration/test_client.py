"""The Python client against a real ``skiplock serve`` process on SQLite: typed tasks,
waiting over the live stream, lazy listing, resumable events, handler options and
Retry, typed errors, and the 429/503 paths with Retry-After."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiplock import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    RateLimited,
    TaskFailed,
    TaskState,
    Unauthorized,
    Unavailable,
    ValidationError,
    WaitTimeout,
)
from tests.processes import EngineProcess

pytestmark = pytest.mark.slow

HANDLERS = """
from skiplock import Retry, handler

@handler("tuned", max_attempts=4, timeout_s=7, cost=3)
def tuned(payload):
    return payload

@handler("retry_until", max_attempts=5)
def retry_until(payload, ctx):
    if ctx.attempt < payload["succeed_on"]:
        raise Retry(f"not yet ({ctx.attempt})", delay_s=payload["delay_s"])
    return {"attempt": ctx.attempt}

@handler("always_retry", max_attempts=2)
def always_retry(payload):
    raise Retry("still waiting", delay_s=0.05)

@handler("retry_later")
def retry_later(payload):
    raise Retry(delay_s=payload["delay_s"])
"""


def start_engine(tmp: Path, **env: str) -> EngineProcess:
    (tmp / "client_test_handlers.py").write_text(HANDLERS)
    base = {
        "SKIPLOCK_HANDLERS": "client_test_handlers",
        "PYTHONPATH": f"{tmp}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "SKIPLOCK_POLL_INTERVAL_S": "0.2",
        "SKIPLOCK_MAINTENANCE_INTERVAL_S": "0.05",
        "SKIPLOCK_RETRY_BASE_S": "0",
        **env,
    }
    return EngineProcess(f"sqlite:///{tmp}/skiplock.db", env=base, log_path=tmp / "e.log").start()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    proc = start_engine(tmp_path_factory.mktemp("client"))
    yield proc
    proc.kill()


@pytest.fixture
def client(engine: EngineProcess) -> Iterator[Client]:
    with Client(engine.url, api_key=engine.admin_key, max_wait_s=0) as c:
        yield c


def new_tenant(engine: EngineProcess, name: str, **body: Any) -> str:
    with engine.client() as admin:
        r = admin.post("/api/tenants", json={"name": name, **body})
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_submit_then_wait_returns_the_finished_task_with_its_result(client: Client) -> None:
    task = client.submit("tuned", {"x": 1})
    assert task.state is TaskState.QUEUED and task.created_at.tzinfo is not None
    done = client.wait(task, timeout=30)
    assert done.is_succeeded and done.result == {"x": 1}
    assert [a.outcome for a in done.attempts] == ["succeeded"]


def test_handler_defaults_apply_to_http_submissions_that_leave_them_out(client: Client) -> None:
    task = client.submit("tuned", delay_s=3600)
    assert (task.max_attempts, task.timeout_s, task.cost) == (4, 7.0, 3)
    own = client.submit("tuned", delay_s=3600, max_attempts=1, timeout_s=2, cost=1)
    assert (own.max_attempts, own.timeout_s, own.cost) == (1, 2.0, 1)


def test_a_handler_retry_runs_again_after_its_delay_spending_attempts(client: Client) -> None:
    task = client.submit("retry_until", {"succeed_on": 3, "delay_s": 0.4})
    done = client.wait(task, timeout=60)
    assert done.is_succeeded and done.result == {"attempt": 3} and done.attempts_used == 3
    assert [a.outcome for a in done.attempts] == ["retry", "retry", "succeeded"]
    assert done.attempts[0].error == "retry requested in 0.4 s: not yet (1)"
    first, second = done.attempts[0], done.attempts[1]
    assert first.finished_at is not None
    assert (second.started_at - first.finished_at).total_seconds() >= 0.4


def test_a_handler_that_keeps_asking_to_retry_dead_letters_at_max_attempts(
    client: Client,
) -> None:
    task = client.submit("always_retry")
    with pytest.raises(TaskFailed, match="retry requested") as caught:
        client.wait(task, timeout=60, raise_on_failure=True)
    dead = caught.value.task
    assert dead.state is TaskState.DEAD and dead.attempts_used == 2
    assert dead.last_error == "retry requested in 0.05 s: still waiting"


def test_retry_delay_sets_when_the_next_attempt_is_due(client: Client) -> None:
    task = client.submit("retry_later", {"delay_s": 30})
    deadline = time.monotonic() + 30
    while (seen := client.get(task)).state is not TaskState.RETRYING:
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    finished = seen.attempts[0].finished_at
    assert finished is not None
    assert 29 <= (seen.run_at - finished).total_seconds() <= 31
    assert client.cancel(task).is_cancelled


def test_wait_times_out_with_the_last_state_seen(client: Client) -> None:
    task = client.submit("noop", delay_s=3600)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        client.wait(task, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 10
    assert caught.value.task is not None and caught.value.task.state is TaskState.SCHEDULED


def test_list_walks_every_page_lazily(engine: EngineProcess) -> None:
    key = new_tenant(engine, "listing")
    transport = CountingTransport()
    with Client(engine.url, api_key=key, transport=transport) as c:
        made = c.submit_many([{"type": "noop", "delay_s": 3600, "payload": i} for i in range(5)])
        assert [t.payload for t in made] == [0, 1, 2, 3, 4]
        transport.paths.clear()
        pages = c.list(state="scheduled", page_size=2)
        first = next(pages)
        assert transport.paths == ["/api/tasks"]  # one page fetched so far
        rest = list(pages)
    assert [t.id for t in [first, *rest]] == sorted((t.id for t in made), reverse=True)
    assert transport.paths == ["/api/tasks"] * 3


def test_list_searches_payload_words_and_refuses_a_search_that_cannot_run(
    client: Client,
) -> None:
    hit = client.submit("noop", {"customer": "Okapi Travel"}, delay_s=3600)
    client.submit("noop", {"customer": "someone else"}, delay_s=3600)
    assert [t.id for t in client.list(search="okapi")] == [hit.id]
    with pytest.raises(ValidationError, match="3 or more"):
        list(client.list(search="ab"))


def test_cancel_and_retry_return_the_task_as_it_now_is(client: Client) -> None:
    task = client.submit("noop", delay_s=3600)
    assert client.cancel(task.id).state is TaskState.CANCELLED
    with pytest.raises(Conflict, match="cancel"):
        client.cancel(task.id)
    requeued = client.retry(task.id)
    assert requeued.state is TaskState.QUEUED
    assert client.wait(requeued, timeout=30).is_succeeded


def test_run_now_and_delete_act_on_scheduled_tasks_only(client: Client) -> None:
    later = client.submit("noop", delay_s=3600)
    assert client.run_now(later.id).state is TaskState.QUEUED
    # Due now, the worker takes it at once: queued, running or done, but no longer scheduled.
    with pytest.raises(Conflict, match=rf"task {later.id} is (queued|running|succeeded)$"):
        client.delete(later)
    doomed = client.submit("noop", delay_s=3600)
    assert client.delete(doomed).id == doomed.id
    with pytest.raises(NotFound):
        client.get(doomed.id)


def test_errors_are_typed_and_carry_the_servers_reason(engine: EngineProcess) -> None:
    with Client(engine.url, api_key=engine.admin_key) as c:
        with pytest.raises(NotFound, match="does not exist") as missing:
            c.get(10**12)
        assert missing.value.status == 404
        with pytest.raises(ValidationError, match="no worker has announced task type") as bad:
            c.submit("no_such_type")
        assert bad.value.field == "type" and "tuned" in bad.value.fields[0].message
        with pytest.raises(ValidationError) as out_of_range:
            c.submit("noop", priority=1000)
        assert out_of_range.value.field == "priority"
        other = c.submit("noop", delay_s=3600, tenant="default")
    with Client(engine.url, api_key="sk_nosuchkey_" + "x" * 32) as c, pytest.raises(Unauthorized):
        c.get(1)
    key = new_tenant(engine, "isolated")
    with Client(engine.url, api_key=key) as c, pytest.raises(NotFound):
        c.get(other.id)  # another tenant's task


def test_rate_limited_submissions_raise_at_once_or_wait_for_retry_after(
    engine: EngineProcess,
) -> None:
    key = new_tenant(engine, "limited", rate_limit="1/2")
    with Client(engine.url, api_key=key, max_wait_s=0) as c:
        c.submit("noop")
        with pytest.raises(RateLimited) as refused:
            c.submit("noop")
    assert refused.value.status == 429 and 1 <= refused.value.retry_after_s <= 2
    started = time.monotonic()
    with Client(engine.url, api_key=key, max_wait_s=5) as c:
        task = c.submit("noop")  # waits out Retry-After, then is admitted
    assert task.tenant == "limited" and time.monotonic() - started >= 0.9


def test_events_resume_after_the_last_event_id(engine: EngineProcess) -> None:
    key = new_tenant(engine, "streaming")
    with Client(engine.url, api_key=key) as c:
        with c.events(kind="task", state="queued") as stream:  # connected from here on
            first = c.submit("noop")
            seen = next(stream)
        assert seen.kind == "task" and seen.task_id == first.id
        assert seen.state is TaskState.QUEUED and seen.tenant == "streaming"
        second = c.submit("noop")  # while nobody listens
        with c.events(kind="task", state="queued", last_event_id=seen.id) as resumed:
            later = next(resumed)
    assert later.task_id == second.id and later.id != seen.id


async def test_the_async_client_does_the_same_with_awaits(engine: EngineProcess) -> None:
    key = new_tenant(engine, "asyncio")
    async with AsyncClient(engine.url, api_key=key) as c:
        task = await c.submit("tuned", {"n": 1})
        assert task.cost == 3
        done = await c.wait(task.id, timeout=30)
        assert done.result == {"n": 1} and (await c.get(task)).is_succeeded
        batch = await c.submit_many([{"type": "noop", "delay_s": 60}] * 3)
        listed = [t.id async for t in c.list(state="scheduled", page_size=2)]
        assert listed == sorted((t.id for t in batch), reverse=True)
        assert (await c.cancel(batch[0])).is_cancelled
        assert (await c.run_now(batch[1])).state is TaskState.QUEUED
        assert (await c.delete(batch[2])).id == batch[2].id
        with pytest.raises(NotFound):
            await c.get(batch[2])
        with pytest.raises(NotFound):
            await c.get(10**12)
        async with c.events(kind="task", state="cancelled", last_event_id="0-0") as events:
            async for event in events:
                if event.task_id == batch[0].id:
                    break


def test_a_503_is_retried_after_retry_after_and_wait_polls_without_a_stream(
    tmp_path: Path,
) -> None:
    engine = start_engine(tmp_path, SKIPLOCK_SSE_MAX_CONNECTIONS="1")
    try:
        # Take the instance's only live connection.
        hog = httpx.Client(base_url=engine.url, headers=engine.headers, timeout=30)
        held = hog.send(hog.build_request("GET", "/api/sse/events"), stream=True)
        assert held.status_code == 200
        with Client(engine.url, api_key=engine.admin_key, max_wait_s=0) as c:
            with pytest.raises(Unavailable) as refused:
                next(c.events())
            assert refused.value.status == 503 and refused.value.retry_after_s == 5
            # No stream to follow: wait() polls and still sees the task finish.
            assert c.wait(c.submit("tuned", {"p": 1}), timeout=30).is_succeeded
        threading.Timer(1.0, held.close).start()  # free the connection soon
        with Client(engine.url, api_key=engine.admin_key, max_wait_s=20) as c:
            started = time.monotonic()
            with c.events(kind="task") as stream:  # 503 first, admitted after Retry-After
                waited = time.monotonic() - started
                c.submit("noop")
                event = next(stream)
        assert event.kind == "task" and waited >= 4.5
        hog.close()
    finally:
        engine.kill()


def test_a_dropped_event_stream_reconnects_and_resumes_where_it_left_off(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    shared = {"SKIPLOCK_REDIS_URL": redis_url, "SKIPLOCK_REDIS_PREFIX": redis_prefix}
    engine = start_engine(tmp_path, **shared)
    try:
        with (
            Client(engine.url, api_key=engine.admin_key) as c,
            c.events(kind="task", state="queued") as stream,
        ):
            first = c.submit("noop")
            assert next(stream).task_id == first.id
            engine.kill()  # the stream drops mid-read
            engine = EngineProcess(
                engine.database_url,
                env=engine.env,
                port=engine.port,
                admin_key=engine.admin_key,
                log_path=tmp_path / "e2.log",
            ).start()
            # The client notices the drop only at its next read, so this is published
            # before it reconnects: only a resume from Last-Event-ID delivers it.
            second = c.submit("noop")
            # The killed engine may have held the first task: its rescue requeues it
            # (a queued event of its own), which may come first.
            resumed = next(e for e in stream if e.task_id != first.id)
        assert resumed.task_id == second.id
    finally:
        engine.kill()
