"""Errors the domain and the ports raise; the API maps each to one HTTP status."""

from __future__ import annotations


class SkiplockError(Exception):
    """Base class for errors with a clear message meant for the caller."""


class NotFound(SkiplockError):
    """The thing does not exist, or the caller may not see it (HTTP 404)."""


class Conflict(SkiplockError):
    """The request clashes with the current state (HTTP 409)."""


class Invalid(SkiplockError):
    """The request is well-formed but not acceptable (HTTP 422)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unavailable(SkiplockError):
    """A dependency (database, Redis) cannot be reached right now (HTTP 503)."""

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
