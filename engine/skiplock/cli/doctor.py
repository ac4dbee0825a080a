"""``skiplock doctor``: what is wrong with this configuration, and the fix for each.

It reads the same settings as ``serve`` and checks, once and without waiting, what an
instance needs: the database (reachable, schema version, buffer pool against the tasks
table), Redis, the handler modules, an admin key, and the clocks of the instances that
heartbeat into the worker registry."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from skiplock import keys
from skiplock.cli.common import EXIT_FAILED, handler_paths
from skiplock.cli.common import settings as _settings
from skiplock.settings import KEY_FILE, Settings

if TYPE_CHECKING:
    from skiplock.adapters.sql import SqlTaskStore
    from skiplock.ports import InstanceInfo

# Instances whose heartbeats are further off than this (beyond the heartbeat interval)
# count as skewed: leases, retries and schedules compare times written by different
# clocks, and a lease is 30 s by default.
SKEW_TOLERANCE_S = 2.0
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome; ``ok`` None means it did not apply or could not run."""

    check: str
    ok: bool | None
    detail: str
    fix: str = ""


@click.command()
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A directory to import SKIPLOCK_HANDLERS from, as for serve (repeatable).",
)
def doctor(paths: tuple[str, ...]) -> None:
    """Check the configuration serve would use and print what is wrong, with the fix.

    Checks the database (reachable, schema version, InnoDB buffer pool against the
    tasks table), Redis when SKIPLOCK_REDIS_URL is set, the modules in
    SKIPLOCK_HANDLERS, the admin key, and clock skew between the running instances.
    Exit status 1 when something is wrong.
    """
    from skiplock.wiring import open_store

    settings = _settings()
    findings: list[Finding] = []
    store = open_store(settings)
    try:
        findings += _database(store, settings)
        reachable = findings[0].ok is True  # else no database, or no SQLite file yet
        findings += _redis_and_clocks(settings)
        findings.append(_handlers(settings, paths))
        findings.append(_keys(settings, store if reachable else None))
    finally:
        store.close()
    _report(findings)
    if any(f.ok is False for f in findings):
        sys.exit(EXIT_FAILED)


def _database(store: SqlTaskStore, settings: Settings) -> list[Finding]:
    from skiplock.adapters.sql.migrations import LATEST_VERSION
    from skiplock.services.startup import reason

    where = store.where()
    file = store.engine.url.database
    if settings.is_embedded and file and file != ":memory:" and not os.path.exists(file):
        return [Finding("database", None, f"{where} does not exist yet; serve creates it")]
    try:
        store.ping()
    except Exception as exc:
        return [
            Finding(
                "database",
                False,
                f"{where}: {reason(exc)}",
                "start it, or point SKIPLOCK_DATABASE_URL at it "
                "(mysql+pymysql://user:pass@host:3306/db)",
            )
        ]
    found: list[Finding] = [Finding("database", True, f"{where} answers")]
    version = store.schema_version()
    if version < LATEST_VERSION and settings.migrate_on_start:
        found.append(
            Finding("schema", None, f"version {version}; serve migrates it to {LATEST_VERSION}")
        )
    elif version < LATEST_VERSION:
        found.append(
            Finding(
                "schema",
                False,
                f"version {version}; this code needs {LATEST_VERSION}",
                "run `skiplock migrate` (serve also does at start unless "
                "SKIPLOCK_MIGRATE_ON_START=false)",
            )
        )
    elif version > LATEST_VERSION:
        found.append(
            Finding(
                "schema",
                True,
                f"version {version}, newer than this code's {LATEST_VERSION} (an upgrade "
                "in progress: migrations only add, so this code still works)",
            )
        )
    else:
        found.append(Finding("schema", True, f"version {version}, current"))
    sizes = store.buffer_pool()
    if sizes is not None:
        found.append(buffer_pool_finding(*sizes))
    return found


def buffer_pool_finding(pool: int, tasks: int) -> Finding:
    """The buffer pool against the tasks table: claims walk the table's pages, and a
    pool smaller than the table turns each claim into disk reads."""
    text = f"innodb_buffer_pool_size {pool / MIB:,.0f} MiB, tasks table {tasks / MIB:,.0f} MiB"
    if tasks <= pool:
        return Finding("buffer pool", True, f"{text}: the table fits")
    need = -(-tasks * 5 // 4 // MIB)  # the table plus a quarter, in whole MiB
    return Finding(
        "buffer pool",
        False,
        f"{text}: claims read pages from disk",
        f"raise innodb_buffer_pool_size to at least {need:,} MiB (the Helm chart's "
        "mysql.bufferPoolSize), or prune sooner (SKIPLOCK_RETENTION_S)",
    )


def _redis_and_clocks(settings: Settings) -> list[Finding]:
    if not settings.redis_url:
        note = (
            "many instances on one MySQL need it for rate limits, the registry and events"
            if not settings.is_embedded
            else "embedded: rate limits, the registry and events stay in this process"
        )
        fix = "" if settings.is_embedded else "set SKIPLOCK_REDIS_URL=redis://host:6379/0"
        return [
            Finding("redis", None, f"not configured; {note}", fix),
            Finding("clock skew", None, "no shared worker registry to compare clocks with"),
        ]
    return asyncio.run(_redis_checks(settings))


async def _redis_checks(settings: Settings) -> list[Finding]:
    from skiplock.services.startup import reason
    from skiplock.wiring import redis_dependency, shared_state

    shared = shared_state(settings)
    where = redis_dependency(settings, shared).target
    try:
        try:
            await shared.ping()
        except Exception as exc:
            return [
                Finding(
                    "redis",
                    False,
                    f"{where}: {reason(exc)}",
                    "start it, or fix SKIPLOCK_REDIS_URL (redis://[:password@]host:6379/0)",
                ),
                Finding("clock skew", None, "the worker registry is in Redis"),
            ]
        instances = await shared.registry.instances()
    finally:
        await shared.close()
    return [
        Finding("redis", True, f"{where} answers"),
        clock_finding(instances, now=datetime.now(UTC), interval_s=settings.registry_ttl_s / 3),
    ]


def clock_finding(instances: list[InstanceInfo], *, now: datetime, interval_s: float) -> Finding:
    """Each instance heartbeats every ``interval_s`` with its own clock's time, and its
    entry expires unless renewed: a live entry's true age is between 0 and about one
    interval, so an age below zero or past the interval is the clocks disagreeing."""
    if not instances:
        return Finding("clock skew", None, "no running instances to compare with")
    skewed: list[str] = []
    for info in instances:
        age = (now - info.last_heartbeat).total_seconds()
        name = info.id
        if age < -SKEW_TOLERANCE_S:
            skewed.append(f"{name} is {-age:.1f} s ahead of this clock")
        elif age > interval_s + SKEW_TOLERANCE_S:
            skewed.append(f"{name} is at least {age - interval_s:.1f} s behind this clock")
    if skewed:
        return Finding(
            "clock skew",
            False,
            "; ".join(skewed),
            "run NTP (chrony, systemd-timesyncd) on every host: leases, retries and "
            "schedules compare times written by different clocks",
        )
    return Finding(
        "clock skew",
        True,
        f"{len(instances)} instance(s) within {SKEW_TOLERANCE_S:g} s of this clock",
    )


def _handlers(settings: Settings, paths: tuple[str, ...]) -> Finding:
    from skiplock import handlers

    modules = settings.handler_modules
    if not modules:
        return Finding(
            "handlers",
            None,
            "SKIPLOCK_HANDLERS is empty: only the built-in types run",
            "SKIPLOCK_HANDLERS=myapp.tasks, importable from the working directory or --path",
        )
    builtin = set(handlers.registry.names())
    try:
        handlers.load_modules(modules, paths=handler_paths(settings, paths))
    except handlers.HandlerModuleError as exc:
        return Finding(
            "handlers",
            False,
            str(exc),
            "fix the module, or run from the directory that holds it (or --path DIR)",
        )
    added = sorted(set(handlers.registry.names()) - builtin) or ["(built-in names only)"]
    return Finding("handlers", True, f"{', '.join(modules)}: {', '.join(added)}")


def _keys(settings: Settings, store: SqlTaskStore | None) -> Finding:
    from skiplock.domain.models import Role

    fix_create = "`skiplock admin-key create --save`, or set SKIPLOCK_ADMIN_KEY"
    if settings.admin_key is not None and keys.parse(settings.admin_key) is None:
        return Finding(
            "admin key",
            False,
            "SKIPLOCK_ADMIN_KEY is not shaped like a key (sk_<prefix>_<secret>)",
            "use a key that `skiplock admin-key create` printed",
        )
    saved = os.path.exists(KEY_FILE)
    active = []
    if store is not None and store.schema_version() > 0:
        active = [k for k in store.list_api_keys() if k.role is Role.ADMIN and k.revoked_at is None]
    if settings.admin_key:
        return Finding("admin key", True, "SKIPLOCK_ADMIN_KEY is set (bootstrapped at start)")
    if active:
        where = f"; {KEY_FILE} holds one" if saved else ""
        return Finding(
            "admin key", True, f"{len(active)} active admin key(s) in the database{where}"
        )
    if store is None and saved:
        return Finding("admin key", None, f"{KEY_FILE} holds one (no database to check it in)")
    stale = f" ({KEY_FILE} holds one of another database)" if saved else ""
    return Finding(
        "admin key",
        False,
        f"no admin key{stale}: nobody can use the API or the dashboard",
        fix_create,
    )


def _report(findings: list[Finding]) -> None:
    from rich.console import Console
    from rich.table import Table

    marks = {True: "[green]ok[/]", False: "[red]wrong[/]", None: "[dim]-[/]"}
    table = Table("check", "", "found", "fix", title="skiplock doctor")
    for f in findings:
        table.add_row(f.check, marks[f.ok], f.detail, f.fix)
    # Piped (scripts, tests): one row per line, however long its fix.
    console = Console(width=None if sys.stdout.isatty() else 1000)
    console.print(table)
    wrong = sum(f.ok is False for f in findings)
    console.print(f"{wrong} problem(s)" if wrong else "nothing wrong found")
