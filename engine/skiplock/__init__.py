"""Skiplock: a distributed background job engine.

Register handlers (in the worker's modules, ``SKIPLOCK_HANDLERS``)::

    from skiplock import Retry, handler

    @handler("resize_image", max_attempts=5, timeout_s=60)
    def resize(payload: dict, ctx) -> dict: ...

Submit and follow work over HTTP::

    from skiplock import Client

    with Client("http://127.0.0.1:8080", api_key=KEY) as client:
        task = client.wait(client.submit("resize_image", {"url": url}), timeout=60)

or inside your own database transaction: ``skiplock.enqueue(conn, "resize_image", {...})``.

Importing ``skiplock`` stays light: the client (httpx) and ``enqueue`` (SQLAlchemy) are
imported the first time they are used, and nothing of the engine's server is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skiplock.handlers import HandlerContext, Retry, handler

if TYPE_CHECKING:
    from skiplock.client import AsyncClient, Client
    from skiplock.enqueue import enqueue, enqueue_many
    from skiplock.errors import (
        Conflict,
        ConnectionClosed,
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
        UnusableConnection,
        ValidationError,
        WaitTimeout,
    )
    from skiplock.tasks import Attempt, Event, Task, TaskState

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "Client": "skiplock.client",
    "AsyncClient": "skiplock.client",
    "enqueue": "skiplock.enqueue",
    "enqueue_many": "skiplock.enqueue",
    "Attempt": "skiplock.tasks",
    "Event": "skiplock.tasks",
    "Task": "skiplock.tasks",
    "TaskState": "skiplock.tasks",
    "Conflict": "skiplock.errors",
    "ConnectionClosed": "skiplock.errors",
    "FieldError": "skiplock.errors",
    "Forbidden": "skiplock.errors",
    "NotFound": "skiplock.errors",
    "ProtocolError": "skiplock.errors",
    "RateLimited": "skiplock.errors",
    "ServerError": "skiplock.errors",
    "SkiplockError": "skiplock.errors",
    "TaskFailed": "skiplock.errors",
    "TooLarge": "skiplock.errors",
    "Unauthorized": "skiplock.errors",
    "Unavailable": "skiplock.errors",
    "UnusableConnection": "skiplock.errors",
    "ValidationError": "skiplock.errors",
    "WaitTimeout": "skiplock.errors",
}

__all__ = [
    "AsyncClient",
    "Attempt",
    "Client",
    "Conflict",
    "ConnectionClosed",
    "Event",
    "FieldError",
    "Forbidden",
    "HandlerContext",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "Retry",
    "ServerError",
    "SkiplockError",
    "Task",
    "TaskFailed",
    "TaskState",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnusableConnection",
    "ValidationError",
    "WaitTimeout",
    "enqueue",
    "enqueue_many",
    "handler",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skiplock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
