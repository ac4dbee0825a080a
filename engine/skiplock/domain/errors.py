"""Errors the domain and the ports raise, and the public Python API raises too.

Each kind has the ``code`` the HTTP API names it by (``{"error": code}``), so the API
maps each to one status and the Python client maps each status back to one kind. The
client sets ``status`` to the HTTP status it received; errors raised in-process leave it
``None``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class SkiplockError(Exception):
    """Base class for errors with a clear message meant for the caller."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotFound(SkiplockError):
    """The thing does not exist, or the caller may not see it (HTTP 404)."""

    code = "not_found"


class Conflict(SkiplockError):
    """The request clashes with the current state (HTTP 409)."""

    code = "conflict"


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field of a request (``tasks.3.payload``, ``priority``)."""

    field: str
    message: str


class ValidationError(SkiplockError):
    """The request is well-formed but not acceptable (HTTP 422; 400 for a malformed
    query). ``fields`` says which fields and why."""

    code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        fields: Sequence[FieldError] = (),
        status: int | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.field = field if field is not None else (fields[0].field if fields else None)
        self.fields: tuple[FieldError, ...] = tuple(fields) or (
            (FieldError(field, message),) if field is not None else ()
        )


# The name the engine used before the public API existed.
Invalid = ValidationError


class TooLarge(ValidationError):
    """A payload or body over its size limit (HTTP 413)."""

    code = "payload_too_large"


class Unauthorized(SkiplockError):
    """No key, or an unknown or revoked one (HTTP 401)."""

    code = "unauthorized"


class Forbidden(SkiplockError):
    """The key is valid but may not do this (HTTP 403)."""

    code = "forbidden"


class RateLimited(SkiplockError):
    """The tenant is over its cost budget; retrying after ``retry_after_s`` can succeed
    (HTTP 429). Nothing of the refused request was stored."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class Unavailable(SkiplockError):
    """A dependency (database, Redis) cannot be reached right now (HTTP 503)."""

    code = "unavailable"

    def __init__(
        self, message: str, *, retry_after_s: float = 5, status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class UnusableConnection(SkiplockError):
    """A connection handed to ``skiplock.enqueue`` cannot take a transactional write:
    it is in autocommit mode, where the task would be committed at once whatever the
    caller does next."""

    code = "unusable_connection"


class ConnectionClosed(UnusableConnection):
    """The connection handed to ``skiplock.enqueue`` is closed or was lost."""

    code = "connection_closed"


class TimedOut(Unavailable):
    """A read ran past its time limit and was stopped (HTTP 503): the database is busy,
    or the question too large (a shorter analytics window may answer)."""
