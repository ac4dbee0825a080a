"""Transactional enqueue: write a task inside the caller's own database transaction.

``enqueue(conn, "send_email", {...})`` inserts the task (and its share of the maintained
active counts) with the same checks, defaults and INSERT as the HTTP API, on the
caller's connection, and returns. It never commits or rolls back: the task exists if and
only if the caller's transaction commits, so an order row and the task that emails its
receipt are written together or not at all.

What differs from submitting over HTTP, by design: no rate limit is charged (the limiter
guards the HTTP API; a budget spent inside a transaction that rolls back would be lost),
and no live event is sent (the live stream first hears of the task when a worker claims
it). Workers find the task at their next poll (``SKIPLOCK_POLL_INTERVAL_S``, 1 s by
default) — or at once when the caller passed an ORM ``Session`` and ``SKIPLOCK_REDIS_URL``
is set: the session's ``after_commit`` event then publishes a wake-up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pydantic
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from skiplock import handlers
from skiplock.adapters.sql import counts
from skiplock.adapters.sql.caller import caller_connection, orm_session
from skiplock.adapters.sql.inserts import insert_tasks
from skiplock.adapters.sql.schema import tenants
from skiplock.adapters.sql.type_ops import read_types
from skiplock.domain import limits
from skiplock.domain.errors import Conflict, FieldError, NotFound, ValidationError
from skiplock.domain.models import NewTask, TenantState
from skiplock.domain.models import Task as StoredTask
from skiplock.domain.states import TaskState
from skiplock.services import submissions
from skiplock.services.task_types import defaults_of
from skiplock.settings import from_environment
from skiplock.tasks import Task

if TYPE_CHECKING:
    from skiplock.adapters.redis.wake import Waker

__all__ = ["enqueue", "enqueue_many"]


def enqueue(
    connection: Any,
    type: str,  # noqa: A002 -- the task's type, as the HTTP API names it
    payload: Any = None,
    *,
    tenant: str | None = None,
    priority: int | None = None,
    cost: int | None = None,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
    delay_s: float | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Task:
    """Write one task in ``connection``'s open transaction; see the module doc.

    ``connection`` is a SQLAlchemy ``Connection`` or ORM ``Session``, or a DB-API
    connection from ``sqlite3`` or PyMySQL, on the engine's database. Options are those
    of ``POST /api/tasks`` with the same bounds and defaults (a handler's defaults apply
    when this process imported its module). ``tenant`` names the tenant (``default``
    when left out). With an ``idempotency_key`` that the tenant already used, the
    existing task is returned and nothing is written.

    Raises :class:`~skiplock.ValidationError` (bad options, unknown type, payload too
    large), :class:`~skiplock.NotFound` (no such tenant), :class:`~skiplock.Conflict`
    (the tenant is draining), :class:`~skiplock.UnusableConnection` (autocommit) or
    :class:`~skiplock.ConnectionClosed`; in every case nothing was written.
    """
    options = {
        "tenant": tenant,
        "priority": priority,
        "cost": cost,
        "max_attempts": max_attempts,
        "timeout_s": timeout_s,
        "delay_s": delay_s,
        "run_at": run_at,
        "idempotency_key": idempotency_key,
    }
    item = {"type": type, "payload": payload, **{k: v for k, v in options.items() if v is not None}}
    return enqueue_many(connection, [item])[0]


def enqueue_many(connection: Any, items: Iterable[Mapping[str, Any]]) -> list[Task]:
    """Write several tasks in ``connection``'s open transaction, all or none checked
    first. Each item is a mapping with the keys of ``POST /api/tasks``
    (``{"type": ..., "payload": ..., "priority": ...}``)."""
    env = _environment()
    rules = env.rules
    given = list(items)
    parsed = [_parsed(item, i if len(given) > 1 else None) for i, item in enumerate(given)]
    if not parsed:
        return []
    with caller_connection(connection) as conn:
        types = _known_types(conn, {p.type for p, _ in parsed})
        for item, where in parsed:
            submissions.check(item, types=types, rules=rules, where=where)
        checked = [p for p, _ in parsed]
        tenant_ids = {name: _tenant_id(conn, name) for name in {c.tenant for c in checked}}
        now = datetime.now(UTC)
        new = [
            submissions.new_task(
                c,
                tenant_id=tenant_ids[c.tenant],
                now=now,
                types=types,
                rules=rules,
            )
            for c in checked
        ]
        stored = _insert(conn, new, now)
    if env.waker is not None and any(t.state is TaskState.QUEUED for t in stored):
        _wake_after_commit(connection, env.waker)
    return [to_public(s) for s in stored]


def _insert(conn: Connection, new: Sequence[NewTask], now: datetime) -> list[StoredTask]:
    """The store's insert as a unit of work inside the caller's transaction: the tally
    is applied as this part's last statement. The caller holds the counter row it
    writes until its own commit: counter rows of its own (``CALLER_SHARDS``) keep the
    engine's transactions from waiting for that."""
    tally = counts.Tally()
    try:
        stored = insert_tasks(conn, new, now=now, tally=tally)
    except IntegrityError:
        # Another transaction committed one of these idempotency keys after this one's
        # snapshot was taken. The failed INSERT undid only itself; a locking read sees
        # the committed row, which is returned as the existing task.
        tally = counts.Tally()
        stored = insert_tasks(conn, new, now=now, tally=tally, locking_read=True)
    tally.apply(conn, shards=counts.CALLER_SHARDS)
    return [s.task for s in stored]


def _known_types(conn: Connection, wanted: set[str]) -> dict[str, handlers.HandlerDefaults]:
    """This process's handlers, plus the announced types among ``wanted`` that they lack
    (one read of ``task_types``, only then): the API's rule, on the caller's connection."""
    local = {n: h.defaults for n in handlers.registry.names() if (h := handlers.registry.get(n))}
    missing = wanted - local.keys()
    announced = {t.name: defaults_of(t) for t in read_types(conn, missing)} if missing else {}
    return {**announced, **local}


def _parsed(item: Mapping[str, Any], index: int | None) -> tuple[submissions.TaskIn, str]:
    where = "" if index is None else f"tasks.{index}."
    if not isinstance(item, Mapping):
        raise TypeError(f"each task is a mapping with 'type' and 'payload'; got {item!r}")
    try:
        parsed = submissions.TaskIn.model_validate(dict(item))
    except pydantic.ValidationError as exc:
        fields = [
            FieldError(where + ".".join(str(p) for p in e["loc"]) or "task", e["msg"])
            for e in exc.errors()
        ]
        summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        raise ValidationError(summary, fields=fields) from None
    return parsed, where


def _tenant_id(conn: Connection, name: str | None) -> int:
    name = name or limits.DEFAULT_TENANT
    row = conn.execute(select(tenants.c.id, tenants.c.state).where(tenants.c.name == name)).first()
    if row is None:
        raise NotFound(f"tenant {name!r} does not exist")
    if row.state == TenantState.DRAINING.value:
        raise Conflict(f"tenant {name!r} is draining and accepts no new tasks")
    return int(row.id)


@dataclass(frozen=True, slots=True)
class _Environment:
    rules: submissions.SubmitRules
    waker: Waker | None  # None without Redis


_environments: dict[int, _Environment] = {}


def _environment() -> _Environment:
    """Limits, defaults and Redis from the same ``SKIPLOCK_*`` variables the engine
    reads, as this process sees them; the modules in ``SKIPLOCK_HANDLERS`` are imported
    so their handler defaults apply."""
    settings = from_environment()
    found = _environments.get(id(settings))  # settings objects live as long as the process
    if found is None:
        handlers.load_modules(settings.handler_modules)
        waker: Waker | None = None
        if settings.redis_url:
            from skiplock.adapters.redis.wake import Waker  # only with Redis configured

            waker = Waker(settings.redis_url, prefix=settings.redis_prefix)
        rules = submissions.SubmitRules.of(settings)
        found = _environments[id(settings)] = _Environment(rules=rules, waker=waker)
    return found


_WAKE = "skiplock_wake"  # session.info: the waker to call at the next commit
_LISTENING = "skiplock_listening"


def _wake_after_commit(connection: Any, waker: Waker) -> None:
    """Wake the workers once ``connection``'s ORM session commits. Connections without
    an after-commit hook (DB-API, Core) leave the task to the workers' poll."""
    session = orm_session(connection)
    if session is None:
        return
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
        session.info[_LISTENING] = True
    session.info[_WAKE] = waker


def _after_commit(session: Any) -> None:
    waker = session.info.pop(_WAKE, None)
    if waker is not None:
        waker.wake()


def _after_rollback(session: Any) -> None:
    session.info.pop(_WAKE, None)


def to_public(t: StoredTask) -> Task:
    """The public :class:`~skiplock.Task` for a stored task."""
    return Task(
        id=t.id,
        type=t.type,
        state=t.state,
        tenant=t.tenant,
        payload=t.payload,
        result=t.result,
        last_error=t.last_error,
        priority=t.priority,
        cost=t.cost,
        attempt=t.attempt,
        attempts_used=t.attempt - t.attempt_base,
        max_attempts=t.max_attempts,
        timeout_s=t.timeout_s,
        idempotency_key=t.idempotency_key,
        created_at=t.created_at,
        run_at=t.run_at,
        started_at=t.started_at,
        finished_at=t.finished_at,
        lease_owner=t.lease_owner,
        lease_expires_at=t.lease_expires_at,
    )
