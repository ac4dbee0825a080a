"""Every error the public Python API raises, in one place.

All derive from :class:`SkiplockError`. The HTTP client raises the kind that matches
the API's answer (``NotFound`` for 404, ``RateLimited`` for 429, …) with ``status`` set
and the server's reason as the message; ``skiplock.enqueue`` raises the same kinds
in-process (``ValidationError`` for bad options, ``NotFound`` for an unknown tenant)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skiplock.domain.errors import (
    Conflict,
    ConnectionClosed,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    SkiplockError,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnusableConnection,
    ValidationError,
)

if TYPE_CHECKING:
    from skiplock.tasks import Task

__all__ = [
    "Conflict",
    "ConnectionClosed",
    "FieldError",
    "Forbidden",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "SkiplockError",
    "TaskFailed",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnusableConnection",
    "ValidationError",
    "WaitTimeout",
]


class ServerError(SkiplockError):
    """The API answered with an unexpected error status (a 500: see its log)."""

    code = "internal_error"


class ProtocolError(SkiplockError):
    """The API answered something this client cannot read (wrong URL, a proxy's page,
    an incompatible server version)."""

    code = "protocol_error"


class TaskFailed(SkiplockError):
    """``wait(..., raise_on_failure=True)`` found the task dead or cancelled; ``task``
    is the task as it ended and the message its ``last_error``."""

    code = "task_failed"

    def __init__(self, task: Task) -> None:
        reason = task.last_error or f"the task was {task.state.value}"
        super().__init__(f"task {task.id} ({task.type}) {task.state.value}: {reason}")
        self.task = task


class WaitTimeout(SkiplockError, TimeoutError):
    """``wait`` ran out of time before the task finished; ``task`` is the last state
    seen (``None`` when it could not be read)."""

    code = "wait_timeout"

    def __init__(self, message: str, *, task: Task | None) -> None:
        super().__init__(message)
        self.task = task
