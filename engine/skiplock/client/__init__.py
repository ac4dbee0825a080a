"""The Python client of the engine's HTTP API: :class:`Client` (blocking) and
:class:`AsyncClient` (asyncio), one implementation of requests and answers."""

from skiplock.client._async import AsyncClient, AsyncEventStream
from skiplock.client._sync import Client, EventStream

__all__ = ["AsyncClient", "AsyncEventStream", "Client", "EventStream"]
