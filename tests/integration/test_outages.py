"""Outages of MySQL and Redis under load, against real ``skiplock serve`` processes on a
private MariaDB and Redis that the tests stop (SIGTERM or SIGKILL) and restart.

While MySQL is down the API answers 503 with ``Retry-After`` and a JSON body, quickly,
never a 500 and never a hang; liveness stays up, readiness goes down and comes back;
workers keep the results they finish and write them, once, when MySQL returns. While
Redis is down the queue keeps working on the database alone, the rate limiter fails
open or closed as configured, and the registry and event stream come back on their own.
After either outage every task whose submission got a 2xx succeeds, none twice."""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiplock import keys
from skiplock.adapters.sql import create_store
from skiplock.domain.models import Task, TaskFilter
from skiplock.domain.states import TERMINAL_STATES, TaskState
from skiplock.services.base import LoopService
from tests import services
from tests.integration.conftest import Harness
from tests.integration.probes import EventStream, raw_post, repeated
from tests.processes import EngineProcess
from tests.services import PrivateMariaDB, PrivateRedis

pytestmark = pytest.mark.slow

DB_TIMEOUT_S = 2.0
# The slowest answer allowed: one database timeout plus a margin for the pool and the
# client. Anything slower counts as a hang.
MAX_ANSWER_S = DB_TIMEOUT_S + 3.0
OUTAGE_S = 5.0


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Runs the finalizers of a test's leftovers (the log files the process helpers leave
    open, Redis connections of a closed event loop) at its end rather than in the middle
    of whatever runs next: on Python 3.11.7 a finalizer that fires inside ``ast.parse``
    can fail it with a spurious "AST constructor recursion depth mismatch"."""
    yield
    gc.collect()


# --- private servers and engine processes ---------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def redis_private() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.cleanup()


@pytest.fixture
def database(mariadb: PrivateMariaDB, redis_private: PrivateRedis) -> str:
    """A fresh database on the private MariaDB, both servers running."""
    for server in (mariadb, redis_private):
        if server.proc is None:  # a failed test left it stopped
            server.start()
    name = f"skiplock_o_{uuid.uuid4().hex[:10]}"
    conn = services._mysql_connect(mariadb.url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return f"{mariadb.url}/{name}"


@pytest.fixture
def spawn(tmp_path: Path, redis_private: PrivateRedis) -> Iterator[Callable[..., EngineProcess]]:
    started: list[EngineProcess] = []
    prefix = f"sko:{uuid.uuid4().hex[:8]}"

    def make(database_url: str, **env: Any) -> EngineProcess:
        base = {
            "SKIPLOCK_REDIS_URL": redis_private.url,
            "SKIPLOCK_REDIS_PREFIX": prefix,
            "SKIPLOCK_DB_TIMEOUT_S": DB_TIMEOUT_S,
            "SKIPLOCK_WORKERS": 8,
            # Far longer than the outage: a lease lost here would be a finding, not noise.
            "SKIPLOCK_LEASE_S": 30,
            "SKIPLOCK_POLL_INTERVAL_S": 0.5,
            "SKIPLOCK_MAINTENANCE_INTERVAL_S": 0.5,
            "SKIPLOCK_RETRY_BASE_S": 0,
            "SKIPLOCK_REGISTRY_TTL_S": 3,
            "SKIPLOCK_SSE_HEARTBEAT_S": 1,
        }
        p = EngineProcess(
            database_url,
            env={k: str(v) for k, v in {**base, **env}.items()},
            log_path=tmp_path / f"engine-{len(started)}.log",
        )
        started.append(p)
        return p.start()

    yield make
    for p in started:
        p.kill()


# --- load and probes --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic()
    elapsed: float
    status: int | None  # None: no answer at all (timeout, connection refused)
    error: str | None
    body: Any
    retry_after: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


class Caller(threading.Thread):
    """Calls one endpoint in a loop until stopped, recording every answer."""

    def __init__(
        self,
        url: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        pause_s: float = 0.05,
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.headers, self.body, self.pause_s = (
            url,
            path,
            headers or {},
            body,
            pause_s,
        )
        self.answers: list[Answer] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        # The client timeout is generous on purpose: the assertions judge the latency,
        # so a slow answer shows up as a number rather than as a timeout.
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            while not self._stop_event.is_set():
                started = time.monotonic()
                try:
                    if self.body is None:
                        r = client.get(self.path)
                    else:
                        r = client.post(self.path, json=self.body())
                    try:
                        body = r.json()
                    except ValueError:
                        body = r.text
                    answer = Answer(
                        started,
                        time.monotonic() - started,
                        r.status_code,
                        None,
                        body,
                        r.headers.get("retry-after"),
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(
                        started, time.monotonic() - started, None, repr(exc), None, None
                    )
                self.answers.append(answer)
                self._stop_event.wait(self.pause_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)
        assert not self.is_alive(), f"{self.path} caller is stuck"

    def accepted_ids(self, answers: list[Answer] | None = None) -> list[int]:
        out: list[int] = []
        for a in self.answers if answers is None else answers:
            if a.ok:
                out += [t["id"] for t in a.body["items"]] if "items" in a.body else [a.body["id"]]
        return out

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if a.started >= start and a.ended <= end]


def batch(*tasks: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: {"tasks": list(tasks)}


SHORT_BATCH = batch(
    {"type": "noop"},
    {"type": "noop"},
    {"type": "async_sleep", "payload": {"seconds": 0.05}},
)


def poll(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def assert_well_behaved(callers: list[Caller], *, allow_503: bool = True) -> None:
    """Every answer came, fast, as JSON; a 5xx is only ever a 503 with Retry-After."""
    for caller in callers:
        assert caller.answers, f"{caller.path}: no answers at all"
        lost = [a for a in caller.answers if a.status is None]
        assert not lost, f"{caller.path}: requests without an answer: {lost[:3]}"
        slow = [a for a in caller.answers if a.elapsed > MAX_ANSWER_S]
        assert not slow, f"{caller.path}: answers slower than {MAX_ANSWER_S} s: {slow[:3]}"
        for a in caller.answers:
            assert a.status is not None
            if a.status >= 500:
                assert allow_503 and a.status == 503, f"{caller.path}: {a}"
                assert a.retry_after is not None and int(a.retry_after) >= 1, a
                assert isinstance(a.body, dict), a
                # /api/ready answers with its checks; everything else with an error body.
                assert a.body.get("error") == "unavailable" or a.body.get("ready") is False, a


# --- checking what the database holds ---------------------------------------------------


def final_tasks(database_url: str, ids: list[int], *, timeout_s: float) -> dict[int, Task]:
    """Waits until every task in ``ids`` is finished; returns them with their attempts."""
    store = create_store(database_url, timeout_s=5)
    try:
        pending = set(ids)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            chunk = tuple(sorted(pending))[:500]
            page = store.list_tasks(TaskFilter(ids=chunk), limit=500, cursor=None)
            pending -= {t.id for t in page.items if t.state in TERMINAL_STATES}
            if pending:
                time.sleep(0.2)
        return {i: store.get_task(i) for i in ids}
    finally:
        store.close()


def assert_each_ran_to_success_once(tasks: dict[int, Task]) -> int:
    """Every task succeeded; a second run only ever follows a lost lease (at-least-once
    delivery allows nothing else). Returns how many tasks ran more than once."""
    not_done = {i: t.state.value for i, t in tasks.items() if t.state is not TaskState.SUCCEEDED}
    assert not not_done, f"{len(not_done)} tasks did not succeed: {list(not_done.items())[:5]}"
    rerun = 0
    for t in tasks.values():
        outcomes = [a.outcome for a in t.attempts]
        assert outcomes and outcomes[-1] == "succeeded", (t.id, outcomes)
        assert all(o == "lease_lost" for o in outcomes[:-1]), (t.id, outcomes)
        for before, after in zip(t.attempts, t.attempts[1:], strict=False):
            assert before.finished_at is not None and before.finished_at <= after.started_at
        rerun += len(outcomes) > 1
    return rerun


def assert_no_secret_in_log(p: EngineProcess) -> None:
    assert p.log_path is not None
    text = p.log_path.read_text(errors="replace")
    parsed = keys.parse(p.admin_key)
    assert parsed is not None
    assert parsed.secret not in text  # the random part, which may itself hold "_"


# --- MySQL --------------------------------------------------------------------------------


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_mysql_outage_answers_503_keeps_results_and_loses_nothing(
    mariadb: PrivateMariaDB,
    database: str,
    spawn: Callable[..., EngineProcess],
    kill: bool,
) -> None:
    p = spawn(database)
    load = Caller(p.url, "/api/tasks/batch", headers=p.headers, body=SHORT_BATCH)
    ready = Caller(p.url, "/api/ready", pause_s=0.2)
    health = Caller(p.url, "/api/health", pause_s=0.2)
    for caller in (load, ready, health):
        caller.start()
    poll(lambda: len(load.accepted_ids()) >= 30, timeout_s=20, what="steady load")

    # Tasks that finish while the database is down: their results must wait, not vanish.
    with p.client() as c:
        r = c.post(
            "/api/tasks/batch",
            json={"tasks": [{"type": "async_sleep", "payload": {"seconds": 2.0}}] * 4},
        )
        assert r.status_code == 201, r.text
        held = [t["id"] for t in r.json()["items"]]
        poll(
            lambda: all(c.get(f"/api/tasks/{i}").json()["state"] == "running" for i in held),
            timeout_s=10,
            what="the long tasks to run",
        )

    down, down_wall = time.monotonic(), datetime.now(UTC)
    mariadb.stop(kill=kill)
    time.sleep(OUTAGE_S)
    assert p.proc is not None and p.proc.poll() is None, "the engine exited during the outage"
    up, up_wall = time.monotonic(), datetime.now(UTC)
    mariadb.start()
    poll(
        lambda: any(a.status == 200 for a in ready.answers if a.started > up),
        timeout_s=30,
        what="/api/ready to recover",
    )
    poll(
        lambda: sum(a.ok for a in load.answers if a.started > up) >= 10,
        timeout_s=30,
        what="submissions to succeed again",
    )
    for caller in (load, ready, health):
        caller.stop()

    assert p.proc.poll() is None, "the engine exited"
    assert_well_behaved([load, ready, health])
    during = load.between(down + 0.5, up)
    assert during, "no submission was made during the outage"
    assert [a for a in during if a.status == 503], "no 503 during the outage"
    assert not [a for a in during if a.ok], "a submission got a 2xx with the database down"
    assert [a.status for a in health.answers] == [200] * len(health.answers)
    assert {a.status for a in ready.between(down + 0.5, up)} == {503}
    assert ready.answers[-1].status == 200

    ids = load.accepted_ids()
    tasks = final_tasks(database, ids + held, timeout_s=60)
    rerun = assert_each_ran_to_success_once(tasks)
    assert rerun == 0, f"{rerun} tasks ran twice although no lease could expire"
    for i in held:
        t = tasks[i]
        assert [a.outcome for a in t.attempts] == ["succeeded"], t.attempts
        assert t.finished_at is not None and down_wall < t.finished_at < up_wall, (
            "the result of a task that finished during the outage was not kept: "
            f"finished {t.finished_at}, outage {down_wall}..{up_wall}"
        )
    assert_no_secret_in_log(p)


# --- Redis --------------------------------------------------------------------------------


def sse_sees(
    url: str, headers: dict[str, str], task_id: Callable[[], int], timeout_s: float
) -> bool:
    """Opens the event stream, then submits (``task_id``) and waits for its event. A stream
    the server ends (a pooled Redis connection found dead after the restart ends it, and
    the documented answer is to reconnect) is opened again, as an EventSource does, and
    the next connection submits anew."""
    deadline = time.monotonic() + timeout_s
    timeout = httpx.Timeout(5.0, read=3.0)
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as client:
        while time.monotonic() < deadline:
            with client.stream("GET", "/api/sse/events") as stream:
                if stream.status_code != 200:
                    return False
                wanted: int | None = None
                for line in stream.iter_lines():
                    if wanted is None and line.startswith(":"):  # connected: now submit
                        wanted = task_id()
                    seen = wanted is not None and f'"id":{wanted},' in line
                    if seen and line.startswith("data:"):
                        return True
                    if time.monotonic() > deadline:
                        return False
    return False


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_a_redis_outage_keeps_the_queue_working_and_everything_recovers(
    redis_private: PrivateRedis,
    database: str,
    spawn: Callable[..., EngineProcess],
    kill: bool,
) -> None:
    closed = spawn(database, SKIPLOCK_RATE_LIMIT_FAIL_OPEN="false", SKIPLOCK_WORKERS=4)
    opened = spawn(database, SKIPLOCK_RATE_LIMIT_FAIL_OPEN="true", SKIPLOCK_WORKERS=4)
    with closed.client() as c:
        limited = c.post("/api/tenants", json={"name": "limited", "rate_limit": "1000000/60"})
        free = c.post("/api/tenants", json={"name": "free"})
        assert limited.status_code == free.status_code == 201
        limited_key = {"Authorization": f"Bearer {limited.json()['api_key']}"}
        free_key = {"Authorization": f"Bearer {free.json()['api_key']}"}

    def registered(p: EngineProcess) -> set[str]:
        r = httpx.get(f"{p.url}/api/workers", headers=p.headers, timeout=10)
        if r.status_code != 200:
            return set()
        return {i["id"].split(":")[0] for i in r.json()["instances"]}

    both = {f"test-{closed.port}", f"test-{opened.port}"}
    poll(lambda: registered(closed) == both, timeout_s=10, what="both instances to register")

    callers = {
        "limited-closed": Caller(
            closed.url, "/api/tasks/batch", headers=limited_key, body=SHORT_BATCH
        ),
        "limited-open": Caller(
            opened.url, "/api/tasks/batch", headers=limited_key, body=SHORT_BATCH
        ),
        "free-closed": Caller(closed.url, "/api/tasks/batch", headers=free_key, body=SHORT_BATCH),
        "free-open": Caller(opened.url, "/api/tasks/batch", headers=free_key, body=SHORT_BATCH),
        "ready": Caller(closed.url, "/api/ready", pause_s=0.2),
    }
    for caller in callers.values():
        caller.start()
    poll(
        lambda: all(len(c.accepted_ids()) >= 10 for k, c in callers.items() if k != "ready"),
        timeout_s=20,
        what="steady load",
    )

    down = time.monotonic()
    redis_private.stop(kill=kill)
    time.sleep(OUTAGE_S / 2)
    workers_down = httpx.get(f"{closed.url}/api/workers", headers=closed.headers, timeout=30)
    time.sleep(OUTAGE_S / 2)
    for p in (closed, opened):
        assert p.proc is not None and p.proc.poll() is None, "an engine exited during the outage"
    up, up_wall = time.monotonic(), datetime.now(UTC)
    redis_private.start()
    poll(
        lambda: registered(closed) == both and registered(opened) == both,
        timeout_s=20,
        what="both instances back in the registry",
    )
    with closed.client() as c:
        submit = lambda: int(c.post("/api/tasks", json={"type": "noop"}).json()["id"])  # noqa: E731
        assert sse_sees(opened.url, opened.headers, submit, timeout_s=15), "no SSE event"
    # The fail-closed limiter admits again once it reaches Redis: wait for that answer
    # rather than for a fixed time, which a loaded machine may not fit in.
    poll(
        lambda: any(a.ok for a in callers["limited-closed"].answers if a.started > up),
        timeout_s=20,
        what="the fail-closed instance to admit again",
    )
    for caller in callers.values():
        caller.stop()

    assert workers_down.status_code == 503 and workers_down.json()["error"] == "unavailable"
    assert workers_down.headers.get("retry-after")
    assert_well_behaved(list(callers.values()))
    for name in ("limited-open", "free-closed", "free-open"):
        refused = [a for a in callers[name].answers if not a.ok]
        assert not refused, f"{name}: refused while only Redis was down: {refused[:3]}"
    during = callers["limited-closed"].between(down + 0.5, up)
    assert during and all(a.status == 503 for a in during), [a.status for a in during]
    ready = callers["ready"]
    assert {a.status for a in ready.answers} == {200}  # Redis down degrades, it does not stop
    assert any(
        "unavailable" in a.body["checks"].get("redis", "") for a in ready.between(down + 0.5, up)
    )

    ids = [
        i
        for caller in callers.values()
        if caller.path != "/api/ready"
        for i in caller.accepted_ids()
    ]
    tasks = final_tasks(database, ids, timeout_s=60)
    rerun = assert_each_ran_to_success_once(tasks)
    assert rerun == 0, f"{rerun} tasks ran twice"
    # Without Redis no wake-up arrives: workers found this work by polling the database.
    submitted_during = callers["free-open"].accepted_ids(callers["free-open"].between(down, up))
    assert submitted_during
    finished = [tasks[i].finished_at for i in submitted_during]
    finished_during = [at for at in finished if at is not None and at < up_wall]
    assert finished_during, "no task submitted during the Redis outage ran before its end"
    for p in (closed, opened):
        assert_no_secret_in_log(p)


# --- a Redis that accepts connections and never answers -----------------------------------


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte: a hung Redis
    (or a network path that silently drops replies)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopping.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.asynccontextmanager
async def hung_redis_engine(
    harness_factory: Callable[..., Any], sqlite_url: str, *, fail_open: bool
) -> AsyncIterator[Harness]:
    with silent_server() as port:
        h = await harness_factory(
            sqlite_url,
            redis_url=f"redis://127.0.0.1:{port}",
            db_timeout_s=1.0,
            rate_limit_fail_open=fail_open,
        )
        try:
            yield h
        finally:
            await h.client.aclose()
            started = time.monotonic()
            await h.engine.stop()
            assert time.monotonic() - started < 10, "shutdown hung on the silent Redis"


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = await call
    return r, time.monotonic() - started


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
async def test_a_redis_that_never_answers_costs_one_timeout_not_a_hang(
    harness_factory: Callable[..., Any], sqlite_url: str, fail_open: bool
) -> None:
    async with hung_redis_engine(harness_factory, sqlite_url, fail_open=fail_open) as h:
        key = h.as_key(await h.tenant("limited", rate_limit="1000/60"))
        limit = 1.0 + 1.5  # SKIPLOCK_DB_TIMEOUT_S plus a margin
        r, took = await timed(h.client.post("/api/tasks", json={"type": "noop"}, headers=key))
        assert took < limit
        if fail_open:
            assert r.status_code == 201, r.text
        else:
            assert r.status_code == 503 and r.headers["retry-after"], r.text
            assert r.json()["error"] == "unavailable"
        free, took = await timed(
            h.client.post("/api/tasks", json={"type": "noop"}, headers=h.admin)
        )
        assert free.status_code == 201 and took < limit  # no limit: Redis is never asked
        ready, took = await timed(h.client.get("/api/ready"))
        assert ready.status_code == 200 and took < limit
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        workers, took = await timed(h.client.get("/api/workers", headers=h.admin))
        assert workers.status_code == 503 and took < limit, workers.text
        assert workers.json()["error"] == "unavailable" and workers.headers["retry-after"]


# --- backoff ------------------------------------------------------------------------------


class _Idle(LoopService):
    async def run_once(self) -> int:
        return 0


@pytest.mark.parametrize("interval_s", [0.05, 0.5, 1.0, 3.3, 10.0, 60.0])
def test_a_failing_service_never_backs_off_past_its_own_interval(interval_s: float) -> None:
    """The lease heartbeat (interval lease/3) must beat again within its interval of the
    database's return, or a short outage expires every lease; no service retries more
    often than every 0.5 s or less often than every 30 s."""
    service = _Idle(interval_s=interval_s)
    waits = [service.backoff_s(n) for n in range(1, 40)]
    assert waits == sorted(waits)
    assert min(waits) >= 0.5
    assert max(waits) <= max(1.0, min(interval_s, 30.0))


# --- authentication and live streams while MySQL is down ----------------------------------


async def test_a_mysql_outage_answers_503_before_a_body_is_read_and_keeps_open_streams(
    mariadb: PrivateMariaDB, database: str, spawn: Callable[..., EngineProcess]
) -> None:
    """Keys are checked before a body is read, so while the database cannot say whether
    a key is valid the answer is a quick 503 (never a 500, never a read body); an open
    event stream whose caller cannot be re-checked stays open rather than ending."""
    p = spawn(database, SKIPLOCK_SSE_RECHECK_S="0.5", SKIPLOCK_WORKERS=0)
    with p.client() as c:
        fresh = c.post("/api/tenants", json={"name": "fresh"}).json()["api_key"]
    async with EventStream(p.url, p.headers) as stream:
        mariadb.stop()
        try:
            answer = raw_post(
                p.port,
                "/api/tasks",
                repeated(b" ", 512 * 1024, head=b'{"type": "noop"', tail=b"}"),
                headers={"Authorization": f"Bearer {fresh}"},
                content_length=512 * 1024,
                timeout_s=30,
            )
            assert answer.status == 503, (answer.status, answer.body[:300])
            assert answer.json()["error"] == "unavailable" and answer.headers["retry-after"]
            assert answer.elapsed < MAX_ANSWER_S
            # Longer than the key cache (5 s): the re-checks do reach the database.
            assert not await stream.ended_within(7), "the stream ended during the outage"
        finally:
            mariadb.start()
    assert "Traceback" not in p.log_text()
