"""Waiting at start for what an instance needs: the database, Redis, and the schema
version this code was written for.

On Kubernetes the engine pods and the migration Job start together, before the MySQL
StatefulSet answers, and in a first install the pods start before the Job has created
the schema. Rather than dying with a traceback (and a restart loop), each waits: with
backoff, one line per attempt that says what it waits for and why, and after
``timeout_s`` it gives up with one line (the caller exits non-zero, so a supervisor
restarts it or a person reads why). Meanwhile :attr:`Startup.waiting_for` tells the
readiness endpoint what the instance is waiting for."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("skiplock.startup")


class NotYet(Exception):
    """Raised by a check whose dependency answers but is not usable yet (an older schema)."""


class StartupFailed(Exception):
    """A dependency did not become available within the bound; the message is one line."""


@dataclass(frozen=True, slots=True)
class StartupConfig:
    """``timeout_s`` bounds the whole start (every dependency together); the delay
    between attempts doubles from ``first_delay_s`` up to ``max_delay_s``."""

    timeout_s: float = 120.0
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.first_delay_s <= 0 or self.max_delay_s < self.first_delay_s:
            raise ValueError("startup: timeout_s and delays must be positive, max >= first")


@dataclass(frozen=True, slots=True)
class Dependency:
    """Something to wait for.

    ``name`` is what readiness shows (``the database``, ``redis``, ``schema version 4``:
    no host names, since readiness is unauthenticated); ``target`` is what the log
    shows (``MySQL at db:3306``). ``check`` raises until the dependency is usable."""

    name: str
    target: str
    check: Callable[[], Awaitable[object]]


# Driver messages, reduced to the reason a person acts on. Matched on the lowercased
# text so that this module needs no driver: PyMySQL, redis-py and OSError all say these.
_REASONS = (
    ("connection refused", "connection refused"),
    ("error 111 ", "connection refused"),
    ("connect call failed", "connection refused"),
    ("name or service not known", "unknown host"),
    ("temporary failure in name resolution", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("access denied", "access denied"),
    ("unknown database", "unknown database"),
    ("wrongpass", "wrong password"),
    ("invalid password", "wrong password"),
    ("invalid username-password", "wrong password"),
    ("noauth", "password required"),
    ("authentication required", "password required"),
    ("without any password configured", "a password is set but the server has none"),
    ("loading the dataset", "still loading its data"),
    ("too many connections", "too many connections"),
)


_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
}


def reason(exc: BaseException) -> str:
    """The short reason a dependency is unavailable (``connection refused``), else the
    error's own first line."""
    if isinstance(exc, NotYet):
        return str(exc)
    seen: BaseException | None = exc
    for _ in range(8):  # the OS error a driver wrapped, when it kept it
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        if isinstance(seen, OSError) and seen.errno in _ERRNOS:
            return _ERRNOS[seen.errno]
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    lowered = text.lower()
    for needle, short in _REASONS:
        if needle in lowered:
            return short
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:160] or type(exc).__name__


class Startup:
    """Waits for dependencies in order within one overall bound.

    ``say`` receives one line per failed attempt; ``sleep`` and ``monotonic`` are
    injected so that tests need not wait."""

    def __init__(
        self,
        config: StartupConfig,
        *,
        say: Callable[[str], None] = log.warning,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._say = say
        self._sleep = sleep
        self._monotonic = monotonic
        self._deadline: float | None = None
        self.waiting_for: str | None = "start"
        self.failure: str | None = None
        self.done = False

    async def wait_for(self, dependency: Dependency) -> None:
        """Return once ``dependency.check`` succeeds; raise :class:`StartupFailed` when
        the overall bound passes first."""
        if self._deadline is None:
            self._deadline = self._monotonic() + self.config.timeout_s
        delay = self.config.first_delay_s
        attempt = 0
        while True:
            attempt += 1
            try:
                await dependency.check()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = reason(exc)
                self.waiting_for = f"{dependency.name} ({_public(exc, why)}, attempt {attempt})"
                remaining = self._deadline - self._monotonic()
                if remaining <= 0:
                    message = (
                        f"gave up waiting for {dependency.target} after "
                        f"{self.config.timeout_s:g} s: {why}"
                    )
                    self.failure = message
                    raise StartupFailed(message) from exc
                pause = min(delay, remaining)
                self._say(
                    f"waiting for {dependency.target}: {why} "
                    f"(attempt {attempt}, next in {_seconds(pause)})"
                )
                await self._sleep(pause)
                delay = min(delay * 2, self.config.max_delay_s)

    async def run(self, dependencies: Sequence[Dependency]) -> None:
        """Wait for each dependency in turn (the order matters: the schema needs the
        database)."""
        for dependency in dependencies:
            await self.wait_for(dependency)

    def finished(self) -> None:
        """Everything is up and the instance's services run: it is ready."""
        self.waiting_for = None
        self.done = True


def _public(exc: BaseException, why: str) -> str:
    # Readiness is unauthenticated: a NotYet names the schema versions, a driver error
    # only its short reason when it is one of the known ones, else its type.
    if isinstance(exc, NotYet) or why in {short for _, short in _REASONS}:
        return why
    return type(exc).__name__


def _seconds(value: float) -> str:
    return f"{round(value, 1):g} s"
