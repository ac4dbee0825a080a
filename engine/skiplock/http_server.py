"""The HTTP/1.1 protocol ``skiplock serve`` runs: uvicorn's h11 one, plus a deadline for
request headers.

uvicorn closes a connection that idles after a response (``timeout_keep_alive``), but
not one that is slow to *send* its headers: a client that connects and sends nothing,
or trickles a header byte at a time (slowloris), holds a connection and its buffers for
as long as it likes. Here a request's headers must be complete within
``SKIPLOCK_HTTP_HEADER_TIMEOUT_S`` of the connection opening or of the request's first
byte, however fast the bytes trickle in; past it the connection is closed. Bodies are
not covered: they are bounded by the request guard's size limits, and a request with a
body is authenticated before it is read."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("skiplock.http")


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # narrowed as uvicorn does
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        request_before = self.cycle
        if self._header_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of a new request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not request_before:  # the headers were complete: a request began
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.debug("closing %s: no complete request headers in time", self.client)
            self.transport.close()


def with_header_timeout(timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline."""
    return type(
        "HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": timeout_s}
    )
