"""What the commands share: settings with a clear error, the store, the handler modules."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from pydantic_settings import BaseSettings

from skiplock.settings import Settings

S = TypeVar("S", bound=BaseSettings)

if TYPE_CHECKING:
    from skiplock.adapters.sql import SqlTaskStore

# Exit statuses: 1 when something outside is wrong (an API refusal, a database that never
# answered, a failing check), 2 when the command line or the configuration is.
EXIT_FAILED = 1
EXIT_USAGE = 2


def settings(**overrides: Any) -> Settings:
    """The settings, or one line per wrong setting naming its variable (exit 2)."""
    return load(Settings, **overrides)


def load(kind: type[S], **overrides: Any) -> S:
    """Settings of ``kind`` from the environment and ``overrides`` (None: unset), or one
    line per wrong setting naming its variable (exit 2)."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return kind(**clean)
    except ValidationError as exc:
        stop("\n".join(_setting_error(e) for e in exc.errors()), status=EXIT_USAGE)


def _setting_error(error: Any) -> str:
    where = "".join(str(part) for part in error.get("loc", ()))
    name = f"SKIPLOCK_{where.upper()}" if where else "configuration"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not where or message.startswith(name):  # the validator named it already
        return f"bad configuration: {message}"
    return f"bad configuration: {name}: {message} (got {error.get('input')!r})"


def store(settings: Settings) -> SqlTaskStore:
    """The store with its schema up to date (the administrative commands). A database
    that does not answer stops the command with one line saying where and why."""
    from skiplock.services.startup import reason
    from skiplock.wiring import open_store

    found = open_store(settings)
    try:
        found.migrate()
    except Exception as exc:
        if not _is_connection_error(exc):
            raise
        stop(
            f"error: {found.where()}: {reason(exc)} (SKIPLOCK_DATABASE_URL; "
            "`skiplock doctor` checks the configuration)"
        )
    return found


def _is_connection_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    from skiplock.domain.errors import Unavailable

    return isinstance(exc, OperationalError | Unavailable)


def handler_paths(settings: Settings, extra: tuple[str, ...] = ()) -> list[str]:
    """Where handler modules are imported from: ``--path`` directories, then
    ``SKIPLOCK_HANDLER_PATH``, then the working directory (as Celery, Dramatiq and RQ
    do), all ahead of the installed packages."""
    return [*extra, *settings.handler_paths, os.getcwd()]


def stop(message: str, *, status: int = EXIT_FAILED) -> NoReturn:
    """One line on stderr, no traceback, and the exit status."""
    click.echo(message, err=True)
    sys.exit(status)
