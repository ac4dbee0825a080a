"""One ``typing.Protocol`` per outside system. Services and the API depend on these;
``engine.wiring`` picks the concrete adapters. Each port has a real adapter and an
in-memory (or embedded) one, and both pass the same contract suite in ``tests/contract``.

The task store is synchronous (SQLAlchemy Core over PyMySQL or sqlite3) and is called
from threads; the shared-state ports (rate limiter, registry, event stream, notifier) are
asynchronous because they sit on the request and SSE paths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.domain.models import (
    AnalyticsSummary,
    ApiKeyInfo,
    BreakdownRow,
    Claimed,
    Completion,
    Event,
    NewTask,
    Page,
    RateLimit,
    Role,
    Task,
    TaskFilter,
    Tenant,
    TenantDepth,
    TenantState,
    ThroughputPoint,
)
from engine.domain.states import TaskState


class Clock(Protocol):
    """Wall-clock and monotonic time, injected so tests control time."""

    def now(self) -> datetime:
        """The current UTC-aware time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards."""
        ...


@dataclass(frozen=True, slots=True)
class StoredKey:
    info: ApiKeyInfo
    tenant_id: int | None
    secret_hash: str


@dataclass(frozen=True, slots=True)
class ReadyTenant:
    """A tenant with claimable work, as the producer's fair scheduler sees it."""

    tenant_id: int
    weight: int


@dataclass(frozen=True, slots=True)
class Lease:
    task_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Moved:
    """A task a maintenance scan moved (promoted or rescued), as its event names it."""

    task_id: int
    tenant_id: int
    tenant: str
    type: str
    attempt: int
    state: TaskState


@dataclass(frozen=True, slots=True)
class Submitted:
    task: Task
    created: bool  # False when an idempotency key matched an existing task


class TaskStore(Protocol):
    """The queue: tasks, their attempt history, tenants and API keys.

    Every write about a running task is fenced on ``(id, attempt, state='running')``:
    a write whose lease was lost changes nothing and is reported as rejected."""

    # --- schema and health -------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version now in place."""
        ...

    def recount(self) -> int:
        """Rebuild the maintained active-task counts from the tasks themselves."""
        ...

    def ping(self) -> None:
        """Raise :class:`~engine.domain.errors.Unavailable` when the database is down."""
        ...

    def close(self) -> None: ...

    # --- tenants and keys --------------------------------------------------------------
    def create_tenant(
        self, name: str, *, weight: int, rate_limit: RateLimit | None, now: datetime
    ) -> Tenant: ...

    def get_tenant(self, *, tenant_id: int | None = None, name: str | None = None) -> Tenant:
        """Raise :class:`~engine.domain.errors.NotFound` when there is no such tenant."""
        ...

    def list_tenants(self) -> list[Tenant]: ...

    def update_tenant(
        self,
        tenant_id: int,
        *,
        weight: int | None = None,
        rate_limit: RateLimit | None = None,
        clear_rate_limit: bool = False,
        state: TenantState | None = None,
    ) -> Tenant: ...

    def create_api_key(
        self,
        *,
        role: Role,
        tenant_id: int | None,
        name: str,
        prefix: str,
        secret_hash: str,
        now: datetime,
    ) -> ApiKeyInfo: ...

    def find_api_key(self, prefix: str) -> StoredKey | None: ...

    def list_api_keys(self, *, tenant_id: int | None = None) -> list[ApiKeyInfo]: ...

    def create_session(
        self, *, token_hash: str, key_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Open a dashboard session for ``key_id``; only the token's digest is stored."""
        ...

    def find_session(self, token_hash: str, *, now: datetime) -> StoredKey | None:
        """The key behind an unexpired session, or None."""
        ...

    def delete_session(self, token_hash: str) -> bool: ...

    def prune_sessions(self, *, now: datetime) -> int: ...

    def revoke_api_key(self, key_id: int, *, now: datetime) -> ApiKeyInfo: ...

    # --- submission and inspection -----------------------------------------------------
    def submit(self, tasks: Sequence[NewTask], *, now: datetime) -> list[Submitted]:
        """Store all of ``tasks`` in one transaction, or none of them."""
        ...

    def get_task(self, task_id: int, *, tenant_id: int | None = None) -> Task:
        """The task with its attempt history; NotFound for another tenant's task."""
        ...

    def list_tasks(self, flt: TaskFilter, *, limit: int, cursor: int | None) -> Page:
        """Newest first; ``cursor`` is the id to continue below."""
        ...

    def cancel(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task: ...

    def requeue(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task: ...

    def cancel_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        """Cancel up to ``limit`` cancellable tasks matching ``flt``; returns their ids."""
        ...

    def requeue_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        """Requeue up to ``limit`` dead or cancelled tasks matching ``flt``."""
        ...

    def delete_tenant_tasks(self, tenant_ids: Sequence[int]) -> int: ...

    def queue_stats(self, *, now: datetime) -> list[TenantDepth]: ...

    # --- analytics (from the database, over a window) -----------------------------------
    def analytics_summary(self, *, since: datetime, tenant_id: int | None) -> AnalyticsSummary: ...

    def throughput(
        self, *, since: datetime, until: datetime, bucket_s: int, tenant_id: int | None
    ) -> list[ThroughputPoint]: ...

    def breakdown(self, *, since: datetime, by: str, tenant_id: int | None) -> list[BreakdownRow]:
        """Tasks active now or created since ``since``, by ``type`` or ``tenant``."""
        ...

    # --- the worker path ---------------------------------------------------------------
    def ready_tenants(self) -> list[ReadyTenant]:
        """Tenants that are not paused and have at least one queued task."""
        ...

    def claim(
        self,
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> list[Claimed]:
        """Claim up to ``grants[tenant_id]`` queued tasks per tenant, highest priority
        first, skipping rows other workers hold. One short transaction."""
        ...

    def heartbeat(self, leases: Sequence[Lease], *, worker: str, lease_until: datetime) -> set[int]:
        """Extend leases; returns the ids whose lease was lost."""
        ...

    def complete(self, completions: Sequence[Completion]) -> list[Completion]:
        """Write finished attempts in one transaction; returns those accepted. A completion
        whose lease was lost is not written and not returned."""
        ...

    def release(self, leases: Sequence[Lease], *, now: datetime) -> list[int]:
        """Return running tasks to ``queued`` without spending their attempt."""
        ...

    # --- maintenance -------------------------------------------------------------------
    def promote_due(self, *, now: datetime, limit: int) -> list[Moved]:
        """Move due ``scheduled``/``retrying`` tasks to ``queued``."""
        ...

    def rescue_expired(
        self, *, now: datetime, limit: int, retry_at: datetime, owner_prefix: str | None = None
    ) -> list[Moved]:
        """Fail attempts whose lease expired (or, with ``owner_prefix``, that a previous
        incarnation of this instance held) into ``retrying`` or ``dead``."""
        ...

    def prune(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` terminal tasks finished before the cutoff."""
        ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float  # 0 when allowed
    reset_s: float  # seconds until the window holds no admitted cost


class RateLimiter(Protocol):
    """Cost-weighted sliding-window admission, atomic across all instances."""

    async def acquire(self, key: str, cost: int, limit: RateLimit) -> RateDecision:
        """Admit ``cost`` units against ``limit`` for ``key`` or refuse them whole."""
        ...


@dataclass(frozen=True, slots=True)
class RunningTask:
    id: int
    type: str
    tenant: str
    attempt: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    id: str
    host: str
    roles: tuple[str, ...]
    started_at: datetime
    last_heartbeat: datetime
    slots: int
    busy: int
    tasks: tuple[RunningTask, ...]


class WorkerRegistry(Protocol):
    """Which instances are alive and what they run; entries expire after a TTL."""

    async def heartbeat(self, info: InstanceInfo, *, ttl_s: float) -> None: ...

    async def remove(self, instance_id: str) -> None: ...

    async def instances(self) -> list[InstanceInfo]: ...


@dataclass(frozen=True, slots=True)
class StreamRead:
    events: list[Event]
    reset: bool  # the requested position is no longer retained


class EventStream(Protocol):
    """One ordered, capped stream of committed state changes shared by all instances."""

    async def publish(self, events: Sequence[Event]) -> None: ...

    async def last_id(self) -> str | None: ...

    async def read(self, *, after: str | None, count: int, block_s: float) -> StreamRead:
        """Events after ``after`` (or new ones only, when None), waiting up to ``block_s``."""
        ...


class Notifier(Protocol):
    """Wakes idle workers on every instance when new ready work is committed."""

    async def notify(self) -> None: ...

    async def wait(self, timeout_s: float) -> bool:
        """True when woken by a signal, False on timeout."""
        ...

    async def close(self) -> None: ...
