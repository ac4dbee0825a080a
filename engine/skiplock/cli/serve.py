"""``serve``, ``migrate`` and ``recount``: running an instance and its schema."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from skiplock.cli.common import EXIT_USAGE, handler_paths, stop
from skiplock.cli.common import settings as _settings
from skiplock.cli.common import store as _store


@click.command()
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
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A directory to import SKIPLOCK_HANDLERS from (repeatable); the working "
    "directory is searched after these.",
)
def serve(
    roles: str | None,
    workers: int | None,
    port: int | None,
    host: str | None,
    root_path: str | None,
    database_url: str | None,
    redis_url: str | None,
    paths: tuple[str, ...],
) -> None:
    """Run an instance: HTTP API and dashboard, workers and maintenance.

    Runs the handlers of the modules in SKIPLOCK_HANDLERS (comma-separated), imported
    from --path directories, SKIPLOCK_HANDLER_PATH and the working directory; one that
    cannot be imported or registers no handler stops it with exit status 2.

    Waits for the database (and Redis) with one line per attempt, up to
    SKIPLOCK_STARTUP_TIMEOUT_S, then applies migrations. SIGTERM drains: claiming
    stops, running tasks get SKIPLOCK_SHUTDOWN_GRACE_S to finish, the rest return to
    the queue uncharged.
    """
    import uvicorn

    from skiplock import handlers, logs
    from skiplock.http_server import with_header_timeout
    from skiplock.wiring import build_app

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
    try:
        handlers.load_modules(settings.handler_modules, paths=handler_paths(settings, paths))
    except handlers.HandlerModuleError as exc:
        stop(f"skiplock serve: handler module {exc}", status=EXIT_USAGE)
    servers: list[Any] = []
    app = build_app(settings, on_failure=lambda: _stop(servers))
    mode = "embedded" if settings.is_embedded else "distributed"
    metrics = f", metrics on :{settings.metrics_port}" if settings.metrics_port is not None else ""
    click.echo(
        f"skiplock {mode} on http://{settings.host}:{settings.port} "
        f"(roles: {','.join(sorted(settings.role_set))}, slots: {settings.workers}{metrics})",
        err=True,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=3,
        # Idle kept-alive connections close after this; slow request headers after
        # SKIPLOCK_HTTP_HEADER_TIMEOUT_S (skiplock.http_server).
        timeout_keep_alive=settings.http_keepalive_s,
        http=with_header_timeout(settings.http_header_timeout_s),
        access_log=False,
        root_path=settings.root_path,
        # X-Forwarded-Proto (and -For) count only from these peers: the session cookie
        # is Secure when a trusted proxy says the browser spoke HTTPS.
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=settings.trusted_proxies,
    )
    servers.append(_DrainingServer(config))
    if settings.metrics_port is not None:
        servers.append(
            _QuietServer(
                uvicorn.Config(
                    app.state.metrics_app,
                    host=settings.host,
                    port=settings.metrics_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            )
        )
    asyncio.run(_serve_all(servers))
    if app.state.startup.failure:
        # Already logged as one line; exit non-zero so a supervisor sees the failure.
        sys.exit(1)


def _stop(servers: list[Any]) -> None:
    for server in servers:
        server.should_exit = True


async def _serve_all(servers: list[Any]) -> None:
    """The API server, and the metrics server beside it until the API server is done (it
    owns the signals and the lifespan: drain, then stop)."""
    main, *others = servers
    tasks = [asyncio.create_task(s.serve()) for s in others]
    try:
        await main.serve()
    finally:
        _stop(others)
        await asyncio.gather(*tasks, return_exceptions=True)


def _DrainingServer(config: Any) -> Any:  # noqa: N802 - reads as the class it builds
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn re-raises a captured SIGTERM after shutdown, so the process would die
        of the signal; a drained shutdown is a clean exit (DESIGN §3.4: exit 0)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return DrainingServer(config)


def _QuietServer(config: Any) -> Any:  # noqa: N802 - reads as the class it builds
    import uvicorn

    class QuietServer(uvicorn.Server):
        """A second server in the process: the first one handles the signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema.

    Waits for the database first (SKIPLOCK_STARTUP_TIMEOUT_S, one line per attempt), so a
    deploy-time job may start before the database answers.
    """
    from skiplock.services.startup import Startup, StartupConfig, StartupFailed
    from skiplock.wiring import database_dependency, open_store, schema_dependency

    settings = _settings()
    store = open_store(settings)
    startup = Startup(
        StartupConfig(timeout_s=settings.startup_timeout_s),
        say=lambda line: click.echo(line, err=True),
    )
    try:
        asyncio.run(
            startup.run([database_dependency(store), schema_dependency(store, migrate=True)])
        )
        version = store.schema_version()
    except StartupFailed as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"schema at version {version}")


@click.command()
def recount() -> None:
    """Rebuild the active-task counts from the tasks table.

    The counts (behind /api/queue/stats, the analytics and the depth metrics) are kept
    by every state change the engine makes. Run this after writing the tasks table by
    other means, such as a bulk load; it is exact when nothing else writes meanwhile.
    """
    settings = _settings()
    active = _store(settings).recount()
    click.echo(f"{active} active tasks counted")
