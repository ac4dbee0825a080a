"""``skiplock task``: submit and inspect tasks of a running instance from a shell.

These go through the HTTP API with the Python client, so a submission from here meets
the same checks, defaults, rate limits and events as any other."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from skiplock.cli.common import EXIT_FAILED, EXIT_USAGE, load, stop

if TYPE_CHECKING:
    from skiplock.client import Client
    from skiplock.tasks import Task

_CONNECTION = [
    click.option(
        "--url",
        default=None,
        help="The instance (SKIPLOCK_URL; default http://127.0.0.1:SKIPLOCK_PORT, port 8080).",
    ),
    click.option(
        "--key",
        default=None,
        help="API key (SKIPLOCK_API_KEY; else SKIPLOCK_ADMIN_KEY; else the one "
        "`skiplock admin-key create --save` wrote to .skiplock/admin-key).",
    ),
]


def _connection(fn: Any) -> Any:
    for option in reversed(_CONNECTION):
        fn = option(fn)
    return fn


@click.group()
def task() -> None:
    """Submit and inspect tasks of a running instance, over its HTTP API.

    Errors print the API's own message on one line. Exit status: 0 done, 1 the API
    refused or a waited-for task did not succeed, 2 bad input (here or as the API
    judged it).
    """


@contextmanager
def _client(url: str | None, key: str | None) -> Iterator[Client]:
    from skiplock.client import Client
    from skiplock.errors import SkiplockError, Unavailable, ValidationError
    from skiplock.settings import ShellSettings

    shell = load(ShellSettings)
    base = url or shell.base_url
    try:
        client = Client(base, api_key=key or shell.key(), max_wait_s=10)
    except ValueError as exc:
        stop(f"error: {exc}", status=EXIT_USAGE)
    try:
        with client:
            yield client
    except ValidationError as exc:
        details = "; ".join(
            f"{f.field}: {f.message}" for f in exc.fields if f.message not in str(exc)
        )
        stop(f"error: {exc}" + (f" ({details})" if details else ""), status=EXIT_USAGE)
    except Unavailable as exc:
        if exc.status is None:  # nothing answered at all
            stop(
                f"error: cannot reach {base}: is `skiplock serve` running there? "
                "(--url, SKIPLOCK_URL)",
            )
        stop(f"error: {exc}")
    except SkiplockError as exc:
        hint = ""
        if exc.status == 401:
            hint = " (--key, SKIPLOCK_API_KEY, or `skiplock admin-key create --save`)"
        stop(f"error: {exc}{hint}")


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as source:
                text = source.read()
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="--payload") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from exc


@task.command("submit")
@click.argument("type_", metavar="TYPE")
@click.option(
    "--payload", default=None, help="The payload as JSON, or @FILE to read it from a file."
)
@click.option("--tenant", default=None, help="The tenant (admin keys; default: default).")
@click.option("--priority", type=int, default=None, help="Higher runs first within a tenant.")
@click.option("--delay", "delay_s", type=float, default=None, help="Run after this many seconds.")
@click.option(
    "--idempotency-key",
    default=None,
    help="Submitting with the same key again returns the first task.",
)
@click.option("--wait", is_flag=True, help="Wait until it finishes; exit 1 unless it succeeded.")
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="With --wait: give up after this many seconds (exit 1).",
)
@_connection
def task_submit(
    type_: str,
    payload: str | None,
    tenant: str | None,
    priority: int | None,
    delay_s: float | None,
    idempotency_key: str | None,
    wait: bool,
    timeout: float | None,
    url: str | None,
    key: str | None,
) -> None:
    """Submit a task of TYPE and print it.

    \b
    skiplock task submit send_email --payload '{"to": "a@b.c"}'
    skiplock task submit hello --payload @hello.json --wait
    """
    from rich.console import Console

    from skiplock.errors import WaitTimeout

    body = _payload(payload)
    with _client(url, key) as client:
        submitted = client.submit(
            type_,
            body,
            tenant=tenant,
            priority=priority,
            delay_s=delay_s,
            idempotency_key=idempotency_key,
        )
        if not wait:
            click.echo(
                f"task {submitted.id} ({submitted.type}, tenant {submitted.tenant}): "
                f"{submitted.state.value}"
            )
            return
        console = Console(stderr=True)
        try:
            with console.status(f"task {submitted.id} ({submitted.type}): waiting to finish"):
                done = client.wait(submitted, timeout=timeout)
        except WaitTimeout as exc:
            last = exc.task.state.value if exc.task else "unknown"
            stop(f"error: task {submitted.id} not finished after {timeout:g} s (now {last})")
        _print_task(done)
        if not done.is_succeeded:
            sys.exit(EXIT_FAILED)


@task.command("get")
@click.argument("task_id", type=int)
@_connection
def task_get(task_id: int, url: str | None, key: str | None) -> None:
    """Show task TASK_ID with its attempts."""
    with _client(url, key) as client:
        _print_task(client.get(task_id))


@task.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    help="Only these states (repeatable): scheduled, queued, running, retrying, "
    "succeeded, dead, cancelled.",
)
@click.option("--tenant", default=None, help="Only this tenant's tasks.")
@click.option("--type", "types", multiple=True, help="Only these types (repeatable).")
@click.option(
    "--search",
    default=None,
    help="Words that must each start a word of the payload or the last error.",
)
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=20, show_default=True, help="At most N."
)
@_connection
def task_list(
    states: tuple[str, ...],
    tenant: str | None,
    types: tuple[str, ...],
    search: str | None,
    limit: int,
    url: str | None,
    key: str | None,
) -> None:
    """List tasks, newest first."""
    from rich.table import Table

    table = Table("id", "type", "tenant", "state", "attempts", "created", "last error")
    with _client(url, key) as client:
        found = client.list(
            state=states or None,
            type=types or None,
            tenant=tenant,
            search=search,
            page_size=min(limit, 500),
        )
        for n, t in enumerate(found):
            if n >= limit:
                break
            table.add_row(
                str(t.id),
                t.type,
                t.tenant,
                _state(t),
                f"{t.attempts_used}/{t.max_attempts}",
                _when(t.created_at),
                _short(t.last_error or ""),
            )
    _console().print(table)


def _print_task(t: Task) -> None:
    from rich.table import Table

    table = Table(show_header=False, title=f"task {t.id}")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("type", t.type),
        ("tenant", t.tenant),
        ("state", _state(t)),
        ("attempts", f"{t.attempts_used} of {t.max_attempts} (claims so far: {t.attempt})"),
        ("priority, cost", f"{t.priority}, {t.cost}"),
        ("created", _when(t.created_at)),
        ("runs at", _when(t.run_at)),
        ("started", _when(t.started_at)),
        ("finished", _when(t.finished_at)),
        ("payload", json.dumps(t.payload)),
        ("result", json.dumps(t.result) if t.result is not None else "-"),
        ("last error", t.last_error or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    for a in t.attempts:
        outcome = f"{a.outcome}: {a.error}" if a.error else (a.outcome or "running")
        table.add_row(f"attempt {a.attempt}", f"{_when(a.started_at)} {outcome}")
    _console().print(table)


def _console() -> Any:
    from rich.console import Console

    # Piped (scripts, tests): wide enough that no cell wraps.
    return Console(width=None if sys.stdout.isatty() else 200)


def _state(t: Task) -> str:
    colour = {"succeeded": "green", "dead": "red", "cancelled": "yellow"}.get(t.state.value)
    return f"[{colour}]{t.state.value}[/]" if colour else t.state.value


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


def _short(text: str, width: int = 60) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
