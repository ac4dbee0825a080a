"""Schedules, written straight to the database through the same ScheduleService the
HTTP API calls (as an admin: whoever holds the database URL holds the keys too)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError as PydanticError

from skiplock.cli.common import settings as _settings
from skiplock.cli.common import store as _store
from skiplock.domain.errors import SkiplockError
from skiplock.domain.models import Principal, Role
from skiplock.domain.schedules import Schedule
from skiplock.services.schedules import ScheduleIn, ScheduleService

T = TypeVar("T")
# The CLI acts with the database's authority: every tenant, every schedule.
_OPERATOR = Principal(role=Role.ADMIN, key_id=0, key_prefix="cli")


def _run(work: Callable[[ScheduleService], Awaitable[T]]) -> T:
    from skiplock.wiring import schedule_service

    async def go() -> T:
        settings = _settings()
        async with schedule_service(settings, _store(settings)) as schedules:
            return await work(schedules)

    try:
        return asyncio.run(go())
    except SkiplockError as exc:
        raise click.ClickException(str(exc)) from exc


def _when(s: Schedule) -> str:
    at = s.next_run_at
    return at.isoformat().replace("+00:00", "Z") if at else "-"


@click.group()
def schedule() -> None:
    """Create and manage schedules (periodic tasks)."""


@schedule.command("create")
@click.argument("name")
@click.option("--type", "type_", required=True, help="The task type each fire submits.")
@click.option("--cron", default=None, help="5 fields, or 6 with seconds first.")
@click.option("--every", "every_s", type=int, default=None, help="Fire every SECONDS.")
@click.option("--payload", default=None, help="The tasks' payload, as JSON.")
@click.option("--tenant", default=None, help="The tenant it fires for (default: default).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cron.")
@click.option(
    "--catch-up",
    type=click.Choice(["none", "one", "all"]),
    default="one",
    show_default=True,
    help="After downtime: skip missed ticks, fire the latest once, or fire each (up to 100).",
)
def schedule_create(
    name: str,
    type_: str,
    cron: str | None,
    every_s: int | None,
    payload: str | None,
    tenant: str | None,
    timezone: str,
    catch_up: str,
) -> None:
    """Create schedule NAME firing a task of --type on --cron or --every."""
    if (cron is None) == (every_s is None):
        raise click.UsageError("give exactly one of --cron and --every")
    fields: dict[str, Any] = {
        "name": name,
        "type": type_,
        "cron": cron,
        "every_s": every_s,
        "tenant": tenant,
        "timezone": timezone,
        "catch_up": catch_up,
    }
    if payload is not None:
        try:
            fields["payload"] = json.loads(payload)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from exc
    try:
        body = ScheduleIn(**fields)
    except PydanticError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise click.ClickException(problems) from exc
    made = _run(lambda s: s.create(_OPERATOR, body))
    click.echo(f"created schedule {made.name} (tenant {made.tenant}); next run {_when(made)}")


@schedule.command("list")
def schedule_list() -> None:
    """List schedules with their timing, state, next and last run."""
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "tenant", "type", "timing", "state", "next run", "last run")
    for s in _run(lambda svc: svc.visible(_OPERATOR)):
        t = s.spec.timing
        timing = f"cron {t.cron} ({t.timezone})" if t.cron else f"every {t.every_s} s"
        last = s.last_run_at.isoformat().replace("+00:00", "Z") if s.last_run_at else "-"
        state = "active" if s.spec.enabled else "paused"
        table.add_row(s.name, s.tenant, s.spec.type, timing, state, _when(s), last)
    Console(width=160).print(table)


@schedule.command("pause")
@click.argument("name")
def schedule_pause(name: str) -> None:
    """Stop NAME firing until it is resumed."""
    _run(lambda s: s.pause(_OPERATOR, name))
    click.echo(f"schedule {name} is paused")


@schedule.command("resume")
@click.argument("name")
def schedule_resume(name: str) -> None:
    """Fire NAME again, from its next tick (no catch-up for the paused time)."""
    got = _run(lambda s: s.resume(_OPERATOR, name))
    click.echo(f"schedule {name} is active; next run {_when(got)}")


@schedule.command("delete")
@click.argument("name")
def schedule_delete(name: str) -> None:
    """Delete NAME (the tasks it fired stay)."""
    _run(lambda s: s.delete(_OPERATOR, name))
    click.echo(f"deleted schedule {name}")


@schedule.command("trigger")
@click.argument("name")
def schedule_trigger(name: str) -> None:
    """Fire one task of NAME now; its ticks are unchanged."""
    task = _run(lambda s: s.trigger(_OPERATOR, name))
    click.echo(f"fired task {task.id}")
