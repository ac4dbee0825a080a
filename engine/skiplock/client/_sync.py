"""The blocking client: performs the shared flows' actions with ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource

from skiplock.client import _common, _flow
from skiplock.errors import SkiplockError, Unavailable
from skiplock.tasks import Event, Task

T = TypeVar("T")


class _Exchange:
    """Performs one flow's actions; owns the stream it opens."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self._response: httpx.Response | None = None
        self._messages: Iterator[Any] | None = None

    def run(self, flow: _flow.Flow[T]) -> T:
        try:
            action = next(flow)
            while True:
                try:
                    result = self._do(action)
                except SkiplockError as exc:
                    action = flow.throw(exc)
                else:
                    action = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the flow's typed result

    def _do(self, action: _flow.Action) -> Any:
        if isinstance(action, _flow.Request):
            response = self._send(action, stream=False)
            return _flow.Reply(response.status_code, response.headers, response.content)
        if isinstance(action, _flow.Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, _flow.OpenStream):
            return self._open(action)
        if isinstance(action, _flow.NextMessage):
            return self.next_message()
        self.close()
        return None

    def _send(
        self, r: _flow.Request, *, stream: bool, read_timeout_s: float | None = None
    ) -> httpx.Response:
        timeout = self._http.timeout
        if read_timeout_s is not None:
            timeout = httpx.Timeout(timeout.connect, read=read_timeout_s)
        request = self._http.build_request(
            r.method, r.path, params=r.params, json=r.json, headers=dict(r.headers), timeout=timeout
        )
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {request.url}: {exc!r}", retry_after_s=1) from exc

    def _open(self, action: _flow.OpenStream) -> _flow.Reply:
        self.close()
        response = self._send(action.request, stream=True, read_timeout_s=action.read_timeout_s)
        if response.status_code != 200:
            response.read()
            response.close()
            return _flow.Reply(response.status_code, response.headers, response.content)
        self._response = response
        self._messages = EventSource(response).iter_sse()
        return _flow.Reply(200, response.headers)

    def next_message(self) -> _flow.SseMessage | None:
        if self._messages is None:
            return None
        try:
            sse = next(self._messages)
        except (StopIteration, httpx.HTTPError):
            self.close()
            return None
        return _flow.SseMessage(sse.event, sse.data, sse.id or None, sse.retry)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = self._messages = None


class Client:
    """A blocking client of the engine's HTTP API.

    ``Client(url, api_key=...)``; use it as a context manager or call :meth:`close`.
    Answers of 429 and 503 are retried after their ``Retry-After`` while the waits of
    one call add up to at most ``max_wait_s`` (0: never), then raise
    :class:`~skiplock.RateLimited` / :class:`~skiplock.Unavailable`."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = _common.DEFAULT_TIMEOUT_S,
        max_wait_s: float = _common.DEFAULT_MAX_WAIT_S,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = _common.check_settings(url, timeout=timeout, max_wait_s=max_wait_s)
        self.url = base
        self.max_wait_s = max_wait_s
        self._http = httpx.Client(
            base_url=base,
            headers=_common.headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"<skiplock.Client {self.url}>"

    def _run(self, flow: _flow.Flow[T]) -> T:
        exchange = _Exchange(self._http)
        try:
            return exchange.run(flow)
        finally:
            exchange.close()

    def submit(
        self,
        type: str,  # noqa: A002 -- the task's type, as the HTTP API names it
        payload: Any = None,
        *,
        tenant: str | None = None,
        priority: int | None = None,
        cost: int | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        delay_s: float | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Submit one task; returns it as stored (with an ``idempotency_key`` the tenant
        used before: the original task). Options left out take the handler's default,
        then the engine's."""
        body = _common.submission(
            type,
            payload,
            tenant=tenant,
            priority=priority,
            cost=cost,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
            delay_s=delay_s,
            run_at=run_at,
            idempotency_key=idempotency_key,
        )
        return self._run(_flow.submit(body, max_wait_s=self.max_wait_s))

    def submit_many(self, tasks: Iterable[Mapping[str, Any]]) -> list[Task]:
        """Submit a batch, all or nothing: each item has the keys of ``submit``
        (``{"type": ..., "payload": ..., "priority": ...}``)."""
        return self._run(_flow.submit_many(tasks, max_wait_s=self.max_wait_s))

    def get(self, task: int | Task) -> Task:
        """The task as it is now, with its ``attempts``."""
        return self._run(_flow.get(task, max_wait_s=self.max_wait_s))

    def wait(
        self,
        task: int | Task,
        *,
        timeout: float | None = None,
        raise_on_failure: bool = False,
    ) -> Task:
        """Block until the task is finished (succeeded, dead or cancelled) and return
        it. Follows the live event stream, polling where there is none. Raises
        :class:`~skiplock.WaitTimeout` after ``timeout`` seconds and, with
        ``raise_on_failure``, :class:`~skiplock.TaskFailed` unless it succeeded."""
        flow = _flow.wait(
            task,
            timeout_s=timeout,
            max_wait_s=self.max_wait_s,
            raise_on_failure=raise_on_failure,
            clock=time.monotonic,
        )
        return self._run(flow)

    def cancel(self, task: int | Task) -> Task:
        """Cancel a scheduled, queued, retrying or running task (:class:`Conflict`
        otherwise); a running task's eventual result is discarded."""
        return self._run(_flow.change(task, "cancel", max_wait_s=self.max_wait_s))

    def retry(self, task: int | Task) -> Task:
        """Requeue a dead or cancelled task with a fresh attempt budget."""
        return self._run(_flow.change(task, "retry", max_wait_s=self.max_wait_s))

    def run_now(self, task: int | Task) -> Task:
        """Make a scheduled or retrying task due now (:class:`Conflict` otherwise)."""
        return self._run(_flow.change(task, "run-now", max_wait_s=self.max_wait_s))

    def delete(self, task: int | Task) -> Task:
        """Delete a scheduled task that is not yet due (:class:`Conflict` from any other
        state: cancel it instead); returns the task as it was."""
        return self._run(_flow.delete(task, max_wait_s=self.max_wait_s))

    def list(
        self,
        *,
        state: str | Iterable[str] | None = None,
        type: str | Iterable[str] | None = None,  # noqa: A002 -- as the HTTP API names it
        tenant: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        search: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Task]:
        """Every matching task, newest first, fetching pages as the iteration needs
        them. ``search``: words that must each start a word of the payload or the last
        error (the API's ``q``)."""
        params = _flow.list_params(
            state=state,
            type_=type,
            tenant=tenant,
            created_after=created_after,
            created_before=created_before,
            search=search,
        )
        size = _common.page_size(page_size)
        cursor: str | None = None
        while True:
            page = _flow.list_page(params, cursor=cursor, size=size, max_wait_s=self.max_wait_s)
            items, cursor = self._run(page)
            yield from items
            if cursor is None:
                return

    def events(
        self,
        *,
        kind: str | Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
        last_event_id: str | None = None,
        reconnect: bool = True,
    ) -> EventStream:
        """Live events as they are committed, from ``last_event_id`` on when given.

        ``with client.events() as stream:`` connects at once, so everything committed
        inside the block is seen; plain iteration connects on the first ``next``. A
        dropped stream is reopened with ``Last-Event-ID`` (while ``reconnect``), so
        nothing the server still retains is missed; an event of kind ``reset`` says some
        were. Errors before the first connection raise."""
        return EventStream(self._events(kind, state, last_event_id, reconnect))

    def _events(
        self,
        kind: str | Iterable[str] | None,
        state: str | Iterable[str] | None,
        after: str | None,
        reconnect: bool,
    ) -> Generator[Event | None, None, None]:
        """The events, after one ``None`` that marks the first connection."""
        failures, retry_ms, connected = 0, None, False
        while True:
            exchange = _Exchange(self._http)
            try:
                request = _flow.events_request(kind=kind, state=state, after=after)
                exchange.run(_flow.call(request, max_wait_s=self.max_wait_s, stream=True))
                if not connected:
                    connected = True
                    yield None
                failures = 0
                while (message := exchange.next_message()) is not None:
                    retry_ms = message.retry_ms or retry_ms
                    event = _flow.to_event(message)
                    if event is not None:
                        after = event.id or after
                        yield event
            except Unavailable:
                if not (connected and reconnect):
                    raise
            finally:
                exchange.close()
            if not reconnect:
                return
            time.sleep(_flow.reconnect_delay_s(failures, retry_ms))
            failures += 1


class EventStream:
    """An iterator of :class:`~skiplock.Event` over one live connection (reopened as
    needed); a context manager that connects on entry and closes on exit."""

    def __init__(self, source: Generator[Event | None, None, None]) -> None:
        self._source = source
        self._connected = False

    def _connect(self) -> None:
        if not self._connected:
            self._connected = True
            next(self._source)  # the connection marker

    def __enter__(self) -> EventStream:
        self._connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        self._connect()
        event = next(self._source)
        assert event is not None  # only the first item is the marker
        return event

    def close(self) -> None:
        self._source.close()
