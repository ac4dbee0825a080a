"""JSON request bodies: counted before they are parsed, parsed off the event loop.

The request guard counts each body's structural characters as it streams in:
``{``, ``[`` and ``,`` bound how many JSON values the parser would build (each value but
the first in a container follows a comma), and so the memory and time a body can cost.
The count runs over raw bytes (C speed, no Python objects), so a body of a million empty
objects is refused in milliseconds instead of growing the process by hundreds of MiB.
Characters inside strings count too: the bound errs towards refusing, never towards
parsing more.

FastAPI parses a body with ``await request.json()`` on the event loop. Every router here
uses :class:`JsonRoute`, whose requests parse in a worker thread instead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_STRUCTURE = (b"{", b"[", b",")


def count_values(chunk: bytes) -> int:
    """An upper bound on the JSON values (objects and arrays, and each item and member
    in them) that ``chunk`` adds to a body."""
    return sum(chunk.count(c) for c in _STRUCTURE)


class _OffLoopRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await asyncio.to_thread(json.loads, body)
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is decoded in a worker thread (see the module doc)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await handle(_OffLoopRequest(request.scope, request.receive))

        return handler
