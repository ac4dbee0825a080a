"""Tenants and API keys, written straight to the database."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from skiplock import keys
from skiplock.cli.common import settings as _settings
from skiplock.cli.common import store as _store
from skiplock.domain.errors import Conflict, Invalid, NotFound
from skiplock.domain.models import RateLimit, Role, Tenant, TenantState
from skiplock.domain.ratelimit import parse_rate_limit
from skiplock.services.keys import check_name, check_scope, issue_key
from skiplock.settings import KEY_FILE


@click.group()
def tenant() -> None:
    """Create and manage tenants."""


def _rate(text: str | None) -> RateLimit | None:
    if text is None:
        return None
    try:
        cost, window = parse_rate_limit(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limit") from exc
    return RateLimit(cost=cost, window_s=window)


@tenant.command("create")
@click.argument("name")
@click.option(
    "--weight",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Fair-share weight against other tenants.",
)
@click.option(
    "--rate-limit",
    default=None,
    metavar="COST/SECONDS",
    help="At most COST units of task cost admitted per sliding SECONDS window.",
)
def tenant_create(name: str, weight: int, rate_limit: str | None) -> None:
    """Create tenant NAME and print its API key alone on the last line."""
    from skiplock.wiring import tenant_service

    async def create() -> tuple[Tenant, str]:
        settings = _settings()
        async with tenant_service(settings, _store(settings)) as tenants:
            return await tenants.create(name, weight=weight, rate_limit=_rate(rate_limit))

    try:
        created, key = asyncio.run(create())
    except (Conflict, Invalid) as exc:
        raise click.ClickException(str(exc)) from exc
    limit = f", rate limit {created.rate_limit}" if created.rate_limit else ""
    click.echo(f"created tenant {created.name} (weight {created.weight}{limit}); its API key:")
    click.echo(key)


@tenant.command("list")
def tenant_list() -> None:
    """List tenants with their weight, state and rate limit."""
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "weight", "state", "rate limit")
    for t in _store(_settings()).list_tenants():
        table.add_row(t.name, str(t.weight), t.state.value, str(t.rate_limit or "-"))
    Console().print(table)


def _set_state(name: str, state: TenantState) -> None:
    from skiplock.wiring import tenant_service

    async def update() -> None:
        settings = _settings()
        async with tenant_service(settings, _store(settings)) as tenants:
            await tenants.set_state(name, state)

    try:
        asyncio.run(update())
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"tenant {name} is now {state.value}")


@tenant.command("pause")
@click.argument("name")
def tenant_pause(name: str) -> None:
    """Stop claiming NAME's tasks (submissions are still accepted)."""
    _set_state(name, TenantState.PAUSED)


@tenant.command("resume")
@click.argument("name")
def tenant_resume(name: str) -> None:
    """Make NAME active again."""
    _set_state(name, TenantState.ACTIVE)


@tenant.command("drain")
@click.argument("name")
def tenant_drain(name: str) -> None:
    """Refuse new submissions for NAME; let its queued work finish."""
    _set_state(name, TenantState.DRAINING)


@click.group("admin-key")
def admin_key() -> None:
    """Manage admin API keys."""


@admin_key.command("create")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
@click.option(
    "--save",
    is_flag=True,
    help=f"Also write it to {KEY_FILE} (readable by you alone), where `skiplock task` "
    "and `skiplock doctor` look for a key.",
)
def admin_key_create(name: str, save: bool) -> None:
    """Create an admin key and print it alone on the last line."""
    try:
        check_name(name)
    except Invalid as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc
    store = _store(_settings())
    key = issue_key(store, role=Role.ADMIN, tenant_id=None, name=name, now=datetime.now(UTC)).key
    if save:
        path = Path(KEY_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)  # touch keeps the mode of a file that was already there
        path.write_text(key + "\n")
        click.echo(f"created an admin key, saved in {path}:")
    else:
        click.echo("created an admin key:")
    click.echo(key)


@click.group("key")
def key_group() -> None:
    """Create, list and revoke API keys."""


@key_group.command("create")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    required=True,
    help="admin: changes anything; reader: sees what an admin sees, changes nothing; "
    "tenant: one tenant's tasks.",
)
@click.option("--tenant", default=None, help="The tenant of a tenant key.")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
def key_create(role: str, tenant: str | None, name: str) -> None:
    """Create a key with ROLE and print it alone on the last line."""
    store = _store(_settings())
    try:
        check_scope(Role(role), has_tenant=tenant is not None)
        check_name(name)
        tenant_id = None if tenant is None else store.get_tenant(name=tenant).id
    except (Invalid, NotFound) as exc:
        raise click.UsageError(str(exc)) from exc
    key = issue_key(store, role=Role(role), tenant_id=tenant_id, name=name, now=datetime.now(UTC))
    owner = f" for tenant {tenant}" if tenant else ""
    article = "an" if role == Role.ADMIN else "a"
    click.echo(f"created {article} {role} key{owner}:")
    click.echo(key.key)


@key_group.command("list")
def key_list() -> None:
    """List API keys (prefixes only; secrets are never stored).

    Keys named "bootstrap" come from SKIPLOCK_ADMIN_KEY ("bootstrap-reader" from
    SKIPLOCK_READER_KEY): starting with a new value revokes the older ones.
    "last used" is kept to the minute.
    """
    from rich.console import Console
    from rich.table import Table

    settings = _settings()
    current = keys.parse(settings.admin_key) if settings.admin_key else None

    def when(moment: datetime | None, never: str = "-") -> str:
        return moment.isoformat(timespec="seconds") if moment else never

    table = Table("id", "prefix", "role", "tenant", "name", "created", "last used", "state")
    for k in _store(settings).list_api_keys():
        state = f"revoked {when(k.revoked_at)}" if k.revoked_at else "active"
        if current is not None and k.prefix == current.prefix:
            state += " (this SKIPLOCK_ADMIN_KEY)"
        table.add_row(
            str(k.id),
            k.prefix,
            k.role.value,
            k.tenant or "-",
            k.name,
            when(k.created_at),
            when(k.last_used_at, "never"),
            state,
        )
    # Piped (scripts, tests): wide enough that no cell wraps.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@key_group.command("revoke")
@click.argument("key_id", type=int)
def key_revoke(key_id: int) -> None:
    """Revoke the key with id KEY_ID."""
    try:
        info = _store(_settings()).revoke_api_key(key_id, now=datetime.now(UTC))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked key {info.prefix}")
