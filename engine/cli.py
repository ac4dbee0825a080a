"""The ``skiplock`` command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from engine import keys
from engine.domain.errors import Conflict, NotFound
from engine.domain.models import RateLimit, Role, TenantState
from engine.domain.ratelimit import parse_rate_limit
from engine.settings import Settings


def _settings(**overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except Exception as exc:
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _store(settings: Settings):  # type: ignore[no-untyped-def]  # SqlTaskStore, imported late
    from engine.wiring import open_store

    store = open_store(settings)
    store.migrate()
    return store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skiplock")
def main() -> None:
    """Skiplock: a distributed background job engine.

    With nothing configured it runs embedded (SQLite, in-process state). Set
    SKIPLOCK_DATABASE_URL (mysql+pymysql://...) and SKIPLOCK_REDIS_URL to run many
    identical instances against one MySQL/MariaDB and one Redis.
    """


@main.command()
@click.option(
    "--role",
    "roles",
    default=None,
    help="Comma-separated roles: all (default), api, worker, maintenance.",
)
@click.option("--workers", type=int, default=None, help="Worker slots (SKIPLOCK_WORKERS).")
@click.option("--port", type=int, default=None, help="HTTP port (SKIPLOCK_PORT, default 8080).")
@click.option("--host", default=None, help="Bind address (SKIPLOCK_HOST, default 127.0.0.1).")
@click.option(
    "--root-path",
    default=None,
    help="URL prefix a proxy in front strips, e.g. /skiplock (SKIPLOCK_ROOT_PATH).",
)
@click.option("--database-url", default=None, help="SKIPLOCK_DATABASE_URL.")
@click.option("--redis-url", default=None, help="SKIPLOCK_REDIS_URL.")
def serve(
    roles: str | None,
    workers: int | None,
    port: int | None,
    host: str | None,
    root_path: str | None,
    database_url: str | None,
    redis_url: str | None,
) -> None:
    """Run an instance: HTTP API and dashboard, workers and maintenance.

    Applies migrations first. SIGTERM drains: claiming stops, running tasks get
    SKIPLOCK_SHUTDOWN_GRACE_S to finish, the rest return to the queue uncharged.
    """
    import uvicorn

    from engine import logs
    from engine.wiring import build_app

    settings = _settings(
        roles=roles,
        workers=workers,
        port=port,
        host=host,
        root_path=root_path,
        database_url=database_url,
        redis_url=redis_url,
    )
    logs.configure(json_lines=settings.log_json, level=settings.log_level)
    try:
        settings.role_set  # noqa: B018 - validates --role early with a clear message
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from exc
    app = build_app(settings)
    mode = "embedded" if settings.is_embedded else "distributed"
    click.echo(
        f"skiplock {mode} on http://{settings.host}:{settings.port} "
        f"(roles: {','.join(sorted(settings.role_set))}, slots: {settings.workers})",
        err=True,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=3,
        access_log=False,
        root_path=settings.root_path,
    )
    _DrainingServer(config).run()


def _DrainingServer(config: Any) -> Any:  # noqa: N802 - reads as the class it builds
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn re-raises a captured SIGTERM after shutdown, so the process would die
        of the signal; a drained shutdown is a clean exit (DESIGN §3.4: exit 0)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return DrainingServer(config)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    version = _store(settings).migrate()
    click.echo(f"schema at version {version}")


@main.command()
def recount() -> None:
    """Rebuild the active-task counts from the tasks table.

    The counts (behind /api/queue/stats, the analytics and the depth metrics) are kept
    by every state change the engine makes. Run this after writing the tasks table by
    other means, such as a bulk load; it is exact when nothing else writes meanwhile.
    """
    settings = _settings()
    active = _store(settings).recount()
    click.echo(f"{active} active tasks counted")


@main.group()
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
    store = _store(_settings())
    now = datetime.now(UTC)
    try:
        created = store.create_tenant(name, weight=weight, rate_limit=_rate(rate_limit), now=now)
    except Conflict as exc:
        raise click.ClickException(str(exc)) from exc
    key, parsed = keys.generate()
    store.create_api_key(
        role=Role.TENANT,
        tenant_id=created.id,
        name=name,
        prefix=parsed.prefix,
        secret_hash=parsed.secret_hash,
        now=now,
    )
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
    store = _store(_settings())
    try:
        found = store.get_tenant(name=name)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    store.update_tenant(found.id, state=state)
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


@main.group("admin-key")
def admin_key() -> None:
    """Manage admin API keys."""


@admin_key.command("create")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
def admin_key_create(name: str) -> None:
    """Create an admin key and print it alone on the last line."""
    store = _store(_settings())
    key, parsed = keys.generate()
    store.create_api_key(
        role=Role.ADMIN,
        tenant_id=None,
        name=name,
        prefix=parsed.prefix,
        secret_hash=parsed.secret_hash,
        now=datetime.now(UTC),
    )
    click.echo("created an admin key:")
    click.echo(key)


@main.group("key")
def key_group() -> None:
    """List and revoke API keys."""


@key_group.command("list")
def key_list() -> None:
    """List API keys (prefixes only; secrets are never stored)."""
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "prefix", "role", "tenant", "name", "created", "revoked")
    for k in _store(_settings()).list_api_keys():
        table.add_row(
            str(k.id),
            k.prefix,
            k.role.value,
            k.tenant or "-",
            k.name,
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-",
        )
    Console().print(table)


@key_group.command("revoke")
@click.argument("key_id", type=int)
def key_revoke(key_id: int) -> None:
    """Revoke the key with id KEY_ID."""
    try:
        info = _store(_settings()).revoke_api_key(key_id, now=datetime.now(UTC))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked key {info.prefix}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
