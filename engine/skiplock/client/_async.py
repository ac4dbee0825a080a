"""The asyncio client: performs the shared flows' actions with ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource

from skiplock.client import _common, _flow
from skiplock.errors import SkiplockError, Unavailable
from skiplock.tasks import Event, Task

T = TypeVar("T")


class _AsyncExchange:
    """Performs one flow's actions; owns the stream it opens."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._response: httpx.Response | None = None
        self._messages: AsyncIterator[Any] | None = None

    async def run(self, flow: _flow.Flow[T]) -> T:
        try:
            action = next(flow)
            while True:
                try:
                    result = await self._do(action)
                except SkiplockError as exc:
                    action = flow.throw(exc)
                else:
                    action = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the flow's typed result

    async def _do(self, action: _flow.Action) -> Any:
        if isinstance(action, _flow.Request):
            response = await self._send(action, stream=False)
            return _flow.Reply(response.status_code, response.headers, response.content)
        if isinstance(action, _flow.Sleep):
            await asyncio.sleep(action.seconds)
            return None
        if isinstance(action, _flow.OpenStream):
            return await self._open(action)
        if isinstance(action, _flow.NextMessage):
            return await self.next_message()
        await self.close()
        return None

    async def _send(
        self, r: _flow.Request, *, stream: bool, read_timeout_s: float | None = None
    ) -> httpx.Response:
        timeout = self._http.timeout
        if read_timeout_s is not None:
            timeout = httpx.Timeout(timeout.connect, read=read_timeout_s)
        request = self._http.build_request(
            r.method, r.path, params=r.params, json=r.json, headers=dict(r.headers), timeout=timeout
        )
        try:
            return await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {request.url}: {exc!r}", retry_after_s=1) from exc

    async def _open(self, action: _flow.OpenStream) -> _flow.Reply:
        await self.close()
        response = await self._send(
            action.request, stream=True, read_timeout_s=action.read_timeout_s
        )
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            return _flow.Reply(response.status_code, response.headers, response.content)
        self._response = response
        self._messages = EventSource(response).aiter_sse()
        return _flow.Reply(200, response.headers)

    async def next_message(self) -> _flow.SseMessage | None:
        if self._messages is None:
            return None
        try:
            sse = await anext(self._messages)
        except (StopAsyncIteration, httpx.HTTPError):
            await self.close()
            return None
        return _flow.SseMessage(sse.event, sse.data, sse.id or None, sse.retry)

    async def close(self) -> None:
        if self._response is not None:
            await self._response.aclose()
        self._response = self._messages = None


class AsyncClient:
    """The asyncio twin of :class:`~skiplock.Client`: the same methods, awaited
    (``list`` and ``events`` are async iterators)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = _common.DEFAULT_TIMEOUT_S,
        max_wait_s: float = _common.DEFAULT_MAX_WAIT_S,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base = _common.check_settings(url, timeout=timeout, max_wait_s=max_wait_s)
        self.url = base
        self.max_wait_s = max_wait_s
        self._http = httpx.AsyncClient(
            base_url=base,
            headers=_common.headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"<skiplock.AsyncClient {self.url}>"

    async def _run(self, flow: _flow.Flow[T]) -> T:
        exchange = _AsyncExchange(self._http)
        try:
            return await exchange.run(flow)
        finally:
            await exchange.close()

    async def submit(
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
        """See :meth:`skiplock.Client.submit`."""
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
        return await self._run(_flow.submit(body, max_wait_s=self.max_wait_s))

    async def submit_many(self, tasks: Iterable[Mapping[str, Any]]) -> list[Task]:
        """See :meth:`skiplock.Client.submit_many`."""
        return await self._run(_flow.submit_many(tasks, max_wait_s=self.max_wait_s))

    async def get(self, task: int | Task) -> Task:
        """See :meth:`skiplock.Client.get`."""
        return await self._run(_flow.get(task, max_wait_s=self.max_wait_s))

    async def wait(
        self,
        task: int | Task,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 -- WaitTimeout carries the last state seen
        raise_on_failure: bool = False,
    ) -> Task:
        """See :meth:`skiplock.Client.wait`."""
        flow = _flow.wait(
            task,
            timeout_s=timeout,
            max_wait_s=self.max_wait_s,
            raise_on_failure=raise_on_failure,
            clock=time.monotonic,
        )
        return await self._run(flow)

    async def cancel(self, task: int | Task) -> Task:
        """See :meth:`skiplock.Client.cancel`."""
        return await self._run(_flow.change(task, "cancel", max_wait_s=self.max_wait_s))

    async def retry(self, task: int | Task) -> Task:
        """See :meth:`skiplock.Client.retry`."""
        return await self._run(_flow.change(task, "retry", max_wait_s=self.max_wait_s))

    async def run_now(self, task: int | Task) -> Task:
        """See :meth:`skiplock.Client.run_now`."""
        return await self._run(_flow.change(task, "run-now", max_wait_s=self.max_wait_s))

    async def delete(self, task: int | Task) -> Task:
        """See :meth:`skiplock.Client.delete`."""
        return await self._run(_flow.delete(task, max_wait_s=self.max_wait_s))

    async def list(
        self,
        *,
        state: str | Iterable[str] | None = None,
        type: str | Iterable[str] | None = None,  # noqa: A002 -- as the HTTP API names it
        tenant: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        search: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Task]:
        """See :meth:`skiplock.Client.list`."""
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
            items, cursor = await self._run(page)
            for item in items:
                yield item
            if cursor is None:
                return

    def events(
        self,
        *,
        kind: str | Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
        last_event_id: str | None = None,
        reconnect: bool = True,
    ) -> AsyncEventStream:
        """See :meth:`skiplock.Client.events`: ``async with client.events() as stream``
        connects at once; ``async for`` iterates."""
        return AsyncEventStream(self._events(kind, state, last_event_id, reconnect))

    async def _events(
        self,
        kind: str | Iterable[str] | None,
        state: str | Iterable[str] | None,
        after: str | None,
        reconnect: bool,
    ) -> AsyncGenerator[Event | None, None]:
        """The events, after one ``None`` that marks the first connection."""
        failures, retry_ms, connected = 0, None, False
        while True:
            exchange = _AsyncExchange(self._http)
            try:
                request = _flow.events_request(kind=kind, state=state, after=after)
                await exchange.run(_flow.call(request, max_wait_s=self.max_wait_s, stream=True))
                if not connected:
                    connected = True
                    yield None
                failures = 0
                while (message := await exchange.next_message()) is not None:
                    retry_ms = message.retry_ms or retry_ms
                    event = _flow.to_event(message)
                    if event is not None:
                        after = event.id or after
                        yield event
            except Unavailable:
                if not (connected and reconnect):
                    raise
            finally:
                await exchange.close()
            if not reconnect:
                return
            await asyncio.sleep(_flow.reconnect_delay_s(failures, retry_ms))
            failures += 1


class AsyncEventStream:
    """The asyncio twin of :class:`skiplock.client.EventStream`."""

    def __init__(self, source: AsyncGenerator[Event | None, None]) -> None:
        self._source = source
        self._connected = False

    async def _connect(self) -> None:
        if not self._connected:
            self._connected = True
            await anext(self._source)  # the connection marker

    async def __aenter__(self) -> AsyncEventStream:
        await self._connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        await self._connect()
        event = await anext(self._source)
        assert event is not None  # only the first item is the marker
        return event

    async def aclose(self) -> None:
        await self._source.aclose()
