"""One ``typing.Protocol`` per outside system. Services and the API depend on these;
``engine.wiring`` picks the concrete adapters. Each port has a real adapter and an
in-memory (or embedded) one, and both pass the same contract suite in ``tests/contract``.

The task store is synchronous (SQLAlchemy Core over PyMySQL or sqlite3) and is called
from threads; the shared-state ports (rate limiter, registry, event stream, notifier) are
asynchronous because they sit on the request and SSE paths."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from skiplock.domain.models import (
    AnalyticsSummary,
    AnnouncedType,
    ApiKeyInfo,
    BreakdownRow,
    Claimed,
    Completion,
    Event,
    NewTask,
    Page,
    PageKey,
    RateLimit,
    Role,
    Task,
    TaskFilter,
    TaskOrder,
    TaskType,
    Tenant,
    TenantDepth,
    TenantState,
    ThroughputPoint,
    Total,
)
from skiplock.domain.schedules import Schedule, ScheduleSpec
from skiplock.domain.states import TaskState


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
    """A tenant with claimable work, as the producer's fair scheduler sees it:
    ``queued`` is how many tasks it has queued (at least 1)."""

    tenant_id: int
    weight: int
    queued: int


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
class TaskCost:
    """What a task would cost its tenant's rate limit if it ran again."""

    id: int
    tenant_id: int
    cost: int


@dataclass(frozen=True, slots=True)
class Submitted:
    task: Task
    created: bool  # False when an idempotency key matched an existing task


@dataclass(frozen=True, slots=True)
class Fire:
    """A schedule's tick and the task it fires."""

    schedule: Schedule
    fire_at: datetime
    task: NewTask


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
        """Raise :class:`~skiplock.domain.errors.Unavailable` when the database is down."""
        ...

    def close(self) -> None: ...

    # --- tenants and keys --------------------------------------------------------------
    def create_tenant(
        self, name: str, *, weight: int, rate_limit: RateLimit | None, now: datetime
    ) -> Tenant: ...

    def get_tenant(self, *, tenant_id: int | None = None, name: str | None = None) -> Tenant:
        """Raise :class:`~skiplock.domain.errors.NotFound` when there is no such tenant."""
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

    def touch_api_key(self, key_id: int, *, now: datetime) -> None:
        """Record that the key was used at ``now`` (to a minute's resolution: a key used
        again within the minute costs no write)."""
        ...

    def create_session(
        self,
        *,
        token_hash: str,
        key_id: int,
        now: datetime,
        expires_at: datetime,
        keep: int | None = None,
    ) -> None:
        """Open a dashboard session for ``key_id``; only the token's digest is stored.
        With ``keep``, the key's oldest sessions beyond that many end."""
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

    def list_tasks(
        self,
        flt: TaskFilter,
        *,
        limit: int,
        cursor: int | PageKey | None,
        order: TaskOrder = TaskOrder.CREATED_DESC,
    ) -> Page:
        """Sorted by ``order`` (default newest first); ``cursor`` is where the previous
        page ended: an id in creation order, the ``Page.next_key`` in the others."""
        ...

    def count_tasks(self, flt: TaskFilter, *, cap: int | None) -> Total:
        """How many tasks match ``flt``; past ``cap`` only "at least cap" (not exact).
        ``cap=None`` counts every match, within the store's time limit for slow reads
        (``TimedOut`` past it)."""
        ...

    def cancel(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task: ...

    def run_now(self, task_id: int, *, tenant_id: int | None, now: datetime) -> Task:
        """A scheduled or retrying task made due now (queued); 409 from any other state."""
        ...

    def requeue(
        self, task_id: int, *, tenant_id: int | None, now: datetime, by: str | None = None
    ) -> Task:
        """Dead or cancelled back to queued with a fresh attempt budget, marked as
        requeued at ``now`` by ``by`` (who asked, for the task's history)."""
        ...

    def delete_scheduled(self, task_id: int, *, tenant_id: int | None) -> Task:
        """Delete a task that is still scheduled (never due yet); returns it as it was.
        Conflict from any other state, NotFound for another tenant's task."""
        ...

    def cancel_matching(self, flt: TaskFilter, *, now: datetime, limit: int) -> list[int]:
        """Cancel up to ``limit`` cancellable tasks matching ``flt``; returns their ids."""
        ...

    def requeue_candidates(self, flt: TaskFilter, *, limit: int) -> list[TaskCost]:
        """The tasks ``requeue_matching`` would requeue now (dead or cancelled), by id,
        with their tenant and cost: what retrying them would charge."""
        ...

    def requeue_matching(
        self, flt: TaskFilter, *, now: datetime, limit: int, by: str | None = None
    ) -> list[int]:
        """Requeue up to ``limit`` dead or cancelled tasks matching ``flt``."""
        ...

    def delete_tenant_tasks(self, tenant_ids: Sequence[int]) -> int: ...

    def count_tenant_tasks(self, tenant_ids: Sequence[int]) -> int:
        """How many tasks (any state) ``delete_tenant_tasks`` would delete now."""
        ...

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

    def complete_and_claim(
        self,
        completions: Sequence[Completion],
        grants: dict[int, int],
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
    ) -> tuple[list[Completion], list[Claimed]]:
        """``complete`` and then ``claim``, in one transaction: (accepted, claimed)."""
        ...

    def release(self, leases: Sequence[Lease], *, now: datetime) -> list[int]:
        """Return running tasks to ``queued`` without spending their attempt."""
        ...

    # --- task types ----------------------------------------------------------------------
    def announce_types(self, types: Sequence[AnnouncedType], *, now: datetime) -> None:
        """Record that a worker handles ``types`` (with these defaults) as of ``now``:
        new names are added, known ones take the new defaults and ``last_seen``."""
        ...

    def task_types(self, names: Collection[str] | None = None) -> list[TaskType]:
        """Every type any worker has ever announced (only ``names``, when given), by name."""
        ...

    # --- schedules -----------------------------------------------------------------------
    def create_schedule(
        self, spec: ScheduleSpec, *, next_fire_at: datetime | None, now: datetime
    ) -> Schedule:
        """Conflict when the name is taken (names are unique across tenants)."""
        ...

    def get_schedule(self, name: str, *, tenant_id: int | None = None) -> Schedule:
        """NotFound for no such schedule, or another tenant's (with ``tenant_id``)."""
        ...

    def list_schedules(self, *, tenant_id: int | None = None) -> list[Schedule]:
        """By name; only ``tenant_id``'s when given."""
        ...

    def update_schedule(
        self, schedule_id: int, spec: ScheduleSpec, *, next_fire_at: datetime | None, now: datetime
    ) -> Schedule:
        """Replace the definition and the next tick; its fire history stays."""
        ...

    def delete_schedule(self, name: str, *, tenant_id: int | None = None) -> Schedule: ...

    def lease_schedules(
        self, *, now: datetime, owner: str, lease_until: datetime, limit: int
    ) -> list[Schedule]:
        """Lease up to ``limit`` enabled schedules with a tick due at ``now`` that no
        other live lease holds, earliest tick first."""
        ...

    def fire_schedules(self, fires: Sequence[Fire], *, now: datetime) -> list[Submitted | None]:
        """For each fire, record that its schedule fired its tick and store its task
        (``run_at`` kept as the tick's time) in the same transaction; None, with
        nothing of it written, for a tick that has fired already. Answers in order."""
        ...

    def release_schedules(
        self, released: Sequence[tuple[int, datetime | None]], *, owner: str
    ) -> None:
        """End ``owner``'s leases on the schedules (by id) and move each one's next tick
        (nothing for a schedule whose lease went to someone else meanwhile)."""
        ...

    def prune_fires(self, *, fired_before: datetime, limit: int) -> int:
        """Forget up to ``limit`` fires recorded before the cutoff."""
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


@dataclass(frozen=True, slots=True)
class RateAsk:
    """``cost`` units asked of ``key``'s window under ``limit``."""

    key: str
    cost: int
    limit: RateLimit


class RateLimiter(Protocol):
    """Cost-weighted sliding-window admission, atomic across all instances."""

    async def acquire(self, key: str, cost: int, limit: RateLimit) -> RateDecision:
        """Admit ``cost`` units against ``limit`` for ``key`` or refuse them whole."""
        ...

    async def acquire_all(self, asks: Sequence[RateAsk]) -> list[RateDecision]:
        """Admit every ask or none, atomically (one request spanning several keys).
        On refusal every decision is refused; ``retry_after_s`` is 0 for the keys
        that had room."""
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
    # The task types this instance's workers run (none for an instance without workers).
    types: tuple[str, ...] = ()


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
