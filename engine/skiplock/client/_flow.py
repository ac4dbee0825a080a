"""What the client says and how it reads the answers, written once for ``Client`` and
``AsyncClient``.

Each operation is a generator (a *flow*) that yields actions — send a request, sleep,
open the event stream, read its next message — and receives their results; it returns
the operation's typed answer. ``Client`` performs the actions with blocking httpx calls,
``AsyncClient`` with awaits; neither has any logic of its own. Flows never do I/O, so
unit tests drive them by hand."""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from skiplock.domain.states import TERMINAL_STATES
from skiplock.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    SkiplockError,
    TaskFailed,
    TooLarge,
    Unauthorized,
    Unavailable,
    ValidationError,
    WaitTimeout,
)
from skiplock.tasks import Event, Task

T = TypeVar("T")

DEFAULT_RETRY_AFTER_S = 1.0  # a 429/503 without Retry-After (a proxy's, say)
POLL_FIRST_S = 0.05  # wait() polling without the event stream: first interval ...
POLL_MAX_S = 1.0  # ... doubling up to this
STREAM_READ_S = 30.0  # silence on the event stream (heartbeats every 15 s) that ends it
STREAM_DROPS = 3  # streams that end at once in a row before wait() polls instead
RECONNECT_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive in practice (httpx.Headers)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class OpenStream:
    """Open a streaming GET; the answer is its :class:`Reply` (an empty body when it is
    200 and stays open). One stream at a time per flow: opening closes the last."""

    request: Request
    read_timeout_s: float


@dataclass(frozen=True, slots=True)
class NextMessage:
    """Read the open stream's next message: an :class:`SseMessage`, or ``None`` when
    the stream ended, failed or stayed silent past its read timeout (it is then closed)."""


@dataclass(frozen=True, slots=True)
class CloseStream:
    pass


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    data: str
    id: str | None = None
    retry_ms: int | None = None


Action = Request | Sleep | OpenStream | NextMessage | CloseStream
Flow = Generator[Action, Any, T]


# --- answers -------------------------------------------------------------------------


def retry_after_s(headers: Mapping[str, str]) -> float:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); a default if absent."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_S
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER_S


def body_json(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError as exc:
        snippet = reply.body[:200].decode("utf-8", "replace")
        raise ProtocolError(
            f"HTTP {reply.status}: expected JSON, got {snippet!r}", status=reply.status
        ) from exc


def error_for(reply: Reply) -> SkiplockError:
    """The typed error for an error answer, carrying the server's reason."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    text = reply.body[:200].decode("utf-8", "replace").strip()
    message = str(body.get("message") or text or f"HTTP {reply.status}")
    status = reply.status
    if status in (400, 413, 422):
        fields = [
            FieldError(str(f.get("field", "")), str(f.get("message", "")))
            for f in body.get("fields") or ()
            if isinstance(f, dict)
        ]
        kind = TooLarge if status == 413 else ValidationError
        return kind(message, fields=fields, status=status)
    if status == 429:
        return RateLimited(message, retry_after_s=retry_after_s(reply.headers), status=status)
    if status == 503:
        return Unavailable(message, retry_after_s=retry_after_s(reply.headers), status=status)
    simple: dict[int, type[SkiplockError]] = {
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
    }
    kind_of = simple.get(status) or (ServerError if status >= 500 else SkiplockError)
    return kind_of(message, status=status)


def call(request: Request, *, max_wait_s: float, stream: bool = False) -> Flow[Reply]:
    """Send ``request``; on 429 or 503 wait ``Retry-After`` and send it again while the
    waits add up to at most ``max_wait_s``, then raise :class:`RateLimited` or
    :class:`Unavailable`. Any other error status raises its typed error."""
    waited = 0.0
    while True:
        action: Action = OpenStream(request, STREAM_READ_S) if stream else request
        reply: Reply = yield action
        if reply.status < 400:
            return reply
        if reply.status in (429, 503):
            delay = retry_after_s(reply.headers)
            if waited + delay <= max_wait_s:
                yield Sleep(delay)
                waited += delay
                continue
        raise error_for(reply)


def _task(reply: Reply) -> Task:
    return Task.from_json(body_json(reply))


def _items(reply: Reply) -> tuple[list[Task], str | None]:
    body = body_json(reply)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ProtocolError("expected {items: [...]} in the answer", status=reply.status)
    cursor = body.get("next_cursor")
    return [Task.from_json(t) for t in body["items"]], str(cursor) if cursor else None


# --- requests ------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def task_body(type_: str, payload: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON for one submission; options left as ``None`` are left out."""
    body: dict[str, Any] = {"type": type_, "payload": payload}
    body.update({k: _jsonable(v) for k, v in options.items() if v is not None})
    return body


def submit(body: Mapping[str, Any], *, max_wait_s: float) -> Flow[Task]:
    reply = yield from call(Request("POST", "/api/tasks", json=dict(body)), max_wait_s=max_wait_s)
    return _task(reply)


def submit_many(items: Iterable[Mapping[str, Any]], *, max_wait_s: float) -> Flow[list[Task]]:
    tasks = [{k: _jsonable(v) for k, v in item.items()} for item in items]
    if not tasks:
        return []
    request = Request("POST", "/api/tasks/batch", json={"tasks": tasks})
    reply = yield from call(request, max_wait_s=max_wait_s)
    return _items(reply)[0]


def _id(task: int | Task) -> int:
    task_id = task.id if isinstance(task, Task) else task
    if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 1:
        raise ValueError(f"a task id is a positive integer; got {task!r}")
    return task_id


def get(task: int | Task, *, max_wait_s: float) -> Flow[Task]:
    reply = yield from call(Request("GET", f"/api/tasks/{_id(task)}"), max_wait_s=max_wait_s)
    return _task(reply)


def change(task: int | Task, action: str, *, max_wait_s: float) -> Flow[Task]:
    """``cancel``, ``retry`` or ``run-now`` one task."""
    request = Request("POST", f"/api/tasks/{_id(task)}/{action}")
    reply = yield from call(request, max_wait_s=max_wait_s)
    return _task(reply)


def delete(task: int | Task, *, max_wait_s: float) -> Flow[Task]:
    reply = yield from call(Request("DELETE", f"/api/tasks/{_id(task)}"), max_wait_s=max_wait_s)
    return _task(reply)


def _values(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a TaskState is a str too
        return [str(value)]
    return [str(v) for v in value]


def list_params(
    *,
    state: str | Iterable[str] | None,
    type_: str | Iterable[str] | None,
    tenant: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    search: str | None = None,
) -> tuple[tuple[str, str], ...]:
    params = [("state", s) for s in _values(state)] + [("type", t) for t in _values(type_)]
    if tenant is not None:
        params.append(("tenant", tenant))
    if search is not None:
        params.append(("q", search))
    for name, when in (("created_after", created_after), ("created_before", created_before)):
        if when is not None:
            params.append((name, when.isoformat()))
    return tuple(params)


def list_page(
    params: tuple[tuple[str, str], ...], *, cursor: str | None, size: int, max_wait_s: float
) -> Flow[tuple[list[Task], str | None]]:
    """One page, newest first, and the cursor of the next (``None`` after the last)."""
    page = (*params, ("limit", str(size)), *((("cursor", cursor),) if cursor else ()))
    reply = yield from call(Request("GET", "/api/tasks", params=page), max_wait_s=max_wait_s)
    return _items(reply)


# --- the event stream ------------------------------------------------------------------


def events_request(
    *, kind: str | Iterable[str] | None, state: str | Iterable[str] | None, after: str | None
) -> Request:
    params = [("kind", k) for k in _values(kind)] + [("state", s) for s in _values(state)]
    headers = (("Last-Event-ID", after),) if after else ()
    return Request("GET", "/api/sse/events", params=tuple(params), headers=headers)


def to_event(message: SseMessage) -> Event | None:
    """The :class:`Event` a stream message carries; ``None`` for the stream's own
    messages (the connection greeting)."""
    if message.event in ("", "message"):
        return None
    try:
        data = json.loads(message.data) if message.data else {}
    except ValueError as exc:
        raise ProtocolError(f"event {message.id}: data is not JSON") from exc
    return Event(id=message.id, kind=message.event, data=data if isinstance(data, dict) else {})


def reconnect_delay_s(failures: int, retry_ms: int | None) -> float:
    """Wait before reconnecting a dropped stream: the server's ``retry:`` hint, doubling
    with each failure in a row, at most RECONNECT_MAX_S."""
    base = (retry_ms or 3000) / 1000
    return float(min(RECONNECT_MAX_S, base * 2 ** min(failures, 10)))


# --- wait ------------------------------------------------------------------------------

_TERMINAL = sorted(s.value for s in TERMINAL_STATES)


@dataclass(slots=True)
class _Waiting:
    task_id: int
    deadline: float | None
    clock: Callable[[], float]
    drops: int = 0
    poll_s: float = POLL_FIRST_S
    use_stream: bool = True
    stream_open: bool = False
    last: Task | None = field(default=None)

    def left(self) -> float:
        return math.inf if self.deadline is None else max(0.0, self.deadline - self.clock())


def wait(
    task: int | Task,
    *,
    timeout_s: float | None,
    max_wait_s: float,
    raise_on_failure: bool,
    clock: Callable[[], float],
    use_stream: bool = True,
) -> Flow[Task]:
    """Until the task is finished: its terminal events on the stream prompt a read, or,
    without a stream, reads at growing intervals. Raises :class:`WaitTimeout` after
    ``timeout_s`` and, with ``raise_on_failure``, :class:`TaskFailed` for a dead or
    cancelled task."""
    w = _Waiting(_id(task), None if timeout_s is None else clock() + timeout_s, clock)
    w.use_stream = use_stream
    while True:
        if w.use_stream and not w.stream_open and w.left() > 0:
            w.stream_open = yield from _open_for_wait(w)
        w.last = yield from get(w.task_id, max_wait_s=max_wait_s)
        if w.last.is_finished:
            if w.stream_open:
                yield CloseStream()
            if raise_on_failure and not w.last.is_succeeded:
                raise TaskFailed(w.last)
            return w.last
        if w.left() <= 0:
            raise WaitTimeout(
                f"task {w.task_id} is still {w.last.state.value} after {timeout_s:g} s",
                task=w.last,
            )
        if w.stream_open:
            w.stream_open = yield from _until_news(w)
        else:
            yield Sleep(min(w.poll_s, w.left()))
            w.poll_s = min(POLL_MAX_S, w.poll_s * 2)


def _open_for_wait(w: _Waiting) -> Flow[bool]:
    request = events_request(kind="task", state=_TERMINAL, after=None)
    reply: Reply = yield OpenStream(request, min(STREAM_READ_S, w.left()))
    if reply.status != 200:
        # No stream here (too many connections, an old server, a proxy): poll instead.
        w.use_stream = False
        return False
    # The server's first message comes once it has fixed its stream position, so
    # nothing that happens after the task is read next can be missed.
    hello = yield NextMessage()
    if hello is None:
        w.drops += 1
        w.use_stream = w.drops < STREAM_DROPS
        return False
    return True


def _until_news(w: _Waiting) -> Flow[bool]:
    """Read the stream until the task may have finished; False once it has dropped."""
    while True:
        message: SseMessage | None = yield NextMessage()
        if message is None:
            w.drops += 1
            w.use_stream = w.drops < STREAM_DROPS
            return False
        event = to_event(message)
        if event is None:
            continue
        w.drops = 0
        if event.kind == "reset" or (event.task_id == w.task_id and event.state in TERMINAL_STATES):
            return True
