"""The task use cases — submit, cancel, retry, run now, delete, and the same for
everything matching a filter — in one place that every entry point calls (the HTTP
routes, and through them the Python client and the CLI; the demo seed), so validation,
rate limits, metrics, live events and worker wake-ups cannot differ between them.

Each committed state change publishes its task event here, after the store returned.
Errors are the domain's (:mod:`skiplock.domain.errors`); the API maps each to a status."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from skiplock import metrics
from skiplock.domain import limits, states
from skiplock.domain.errors import Conflict, Forbidden, RateLimited, Unavailable, ValidationError
from skiplock.domain.models import (
    NewTask,
    Principal,
    RateLimit,
    Task,
    TaskFilter,
    Tenant,
    TenantState,
)
from skiplock.domain.schedules import Schedule
from skiplock.domain.states import TaskState, Transition
from skiplock.handlers import HandlerDefaults
from skiplock.logs import OutageLog
from skiplock.ports import (
    Clock,
    Fire,
    RateAsk,
    RateDecision,
    RateLimiter,
    Submitted,
    TaskCost,
    TaskStore,
)
from skiplock.services import submissions
from skiplock.services.publisher import EventPublisher, task_event
from skiplock.services.submissions import SubmitRules, TaskIn
from skiplock.services.task_types import TypeCatalog
from skiplock.settings import Settings

log = logging.getLogger("skiplock.tasks")
limiter_log = OutageLog(log)

# Bulk actions change at most this many tasks per call; the answer says when more match.
BULK_LIMIT = 10_000
# Changed tasks are read back for their events in pages of this many ids.
_READ_BACK = 500


@dataclass(frozen=True, slots=True)
class TaskServiceConfig:
    rules: SubmitRules
    max_batch: int
    # How long to wait for the rate limiter before treating it as down.
    limiter_timeout_s: float
    # Down: admit anyway (True) or refuse with 503 (False).
    rate_limit_fail_open: bool
    bulk_limit: int = BULK_LIMIT

    @classmethod
    def of(cls, settings: Settings) -> TaskServiceConfig:
        return cls(
            rules=SubmitRules.of(settings),
            max_batch=settings.max_batch,
            limiter_timeout_s=settings.db_timeout_s,
            rate_limit_fail_open=settings.rate_limit_fail_open,
        )

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.bulk_limit < 1:
            raise ValueError("tasks: max_batch and bulk_limit must be positive")
        if self.limiter_timeout_s <= 0:
            raise ValueError("tasks: limiter_timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class Quota:
    """A tenant's standing in its rate limit after a decision: what the API reports in
    ``RateLimit-*`` headers."""

    limit: RateLimit
    decision: RateDecision

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.decision.limit),
            "RateLimit-Remaining": str(self.decision.remaining),
            "RateLimit-Reset": str(math.ceil(self.decision.reset_s)),
            "RateLimit-Policy": f"{self.limit.cost};w={self.limit.window_s}",
        }


class OverLimit(RateLimited):
    """A tenant of the request is over its rate limit; nothing was charged or stored."""

    def __init__(self, message: str, *, quota: Quota) -> None:
        super().__init__(message, retry_after_s=max(1, math.ceil(quota.decision.retry_after_s)))
        self.quota = quota


@dataclass(frozen=True, slots=True)
class Submission:
    stored: list[Submitted]
    quota: Quota | None  # the last limited tenant's standing; None when none is limited


@dataclass(frozen=True, slots=True)
class Changed:
    """The outcome of a bulk action."""

    ids: list[int]
    truncated: bool  # more tasks matched than one call changes
    quota: Quota | None = None
    dry_run: bool = False  # nothing was changed: ``ids`` are what would have been


@dataclass(frozen=True, slots=True)
class Fired:
    """What became of one schedule tick: its task, or why none was stored
    (``rate_limited``, ``draining``, ``invalid``, ``fired_already``)."""

    schedule: Schedule
    tick: datetime
    task: Task | None
    skipped: str | None


def _reason(exc: Exception) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, Conflict):
        return "draining"
    return "invalid"


class TaskService:
    """Every operation on tasks that changes them."""

    def __init__(
        self,
        config: TaskServiceConfig,
        *,
        store: TaskStore,
        limiter: RateLimiter,
        publisher: EventPublisher,
        clock: Clock,
        types: TypeCatalog,
    ) -> None:
        self.config = config
        self._store = store
        self._limiter = limiter
        self._publisher = publisher
        self._clock = clock
        self._types = types

    @property
    def types(self) -> TypeCatalog:
        """The catalog submissions are checked against (schedules check theirs too)."""
        return self._types

    # --- submit ------------------------------------------------------------------------

    async def submit(
        self, who: Principal, items: Sequence[TaskIn], *, batch: bool = True
    ) -> Submission:
        """Validate, rate-limit and store ``items``, all or nothing. ``batch`` names
        fields ``tasks.N.…`` in errors, as the batch body does."""
        if len(items) > self.config.max_batch:
            raise ValidationError(
                f"a batch holds at most {self.config.max_batch} tasks; got {len(items)}",
                field="tasks",
            )
        # Serialising and walking every payload costs time in proportion to the body: in
        # a worker thread, so other requests are served meanwhile.
        # Known types: this process's handlers and every type a worker has announced.
        types = await self._types.known({i.type for i in items})
        await asyncio.to_thread(self._check_all, items, types, batch)
        tenants: dict[str | None, Tenant] = {}
        for item in items:
            if item.tenant not in tenants:
                tenants[item.tenant] = await self._tenant_for(who, item.tenant)
        for tenant in tenants.values():
            if tenant.state is TenantState.DRAINING:
                raise Conflict(f"tenant {tenant.name!r} is draining and accepts no new tasks")
        costs: dict[int, int] = {}
        for item in items:
            tenant_id = tenants[item.tenant].id
            costs[tenant_id] = costs.get(tenant_id, 0) + submissions.cost_of(item, types)
        by_id = {t.id: t for t in tenants.values()}
        quota = await self._admit([(by_id[i], cost) for i, cost in costs.items()])
        now = self._clock.now()
        new = [
            submissions.new_task(
                i,
                tenant_id=tenants[i.tenant].id,
                now=now,
                types=types,
                rules=self.config.rules,
            )
            for i in items
        ]
        stored = await asyncio.to_thread(self._store.submit, new, now=now)
        created = [s.task for s in stored if s.created]
        for t in created:
            metrics.TASKS_SUBMITTED.labels(t.tenant, t.type).inc()
        self._emit(created, at=None)
        if any(t.state is TaskState.QUEUED for t in created):
            self._publisher.work_ready()
        return Submission(stored, quota)

    async def fire(self, schedule: Schedule, fire_at: datetime) -> Task | None:
        """Submit ``schedule``'s task for ``fire_at`` (a manual trigger): refused as a
        submission is (OverLimit, Conflict for a draining tenant, ValidationError); None
        when that instant has fired already."""
        [done] = await self.fire_many([(schedule, fire_at)], refusals="raise")
        return done.task

    async def fire_many(
        self,
        ticks: Sequence[tuple[Schedule, datetime]],
        *,
        refusals: Literal["skip", "raise"] = "skip",
    ) -> list[Fired]:
        """Submit each schedule's task for its tick (``run_at`` is the tick), like any
        submission — validated, rate-limited, counted, announced — with each tick
        recorded in its task's transaction, so a tick stores one task however many
        instances fire it. A tick refused (the tenant over its rate limit or draining,
        the task invalid) is skipped with the reason, or raises with ``refusals="raise"``.
        Answers in order."""
        types = await self._types.known({s.spec.type for s, _ in ticks})
        tenants: dict[int, Tenant] = {}
        out: list[Fired] = []
        fires: list[tuple[int, Fire]] = []
        now = self._clock.now()
        for schedule, tick in ticks:
            tenant_id = schedule.spec.tenant_id
            if tenant_id not in tenants:
                tenants[tenant_id] = await asyncio.to_thread(
                    self._store.get_tenant, tenant_id=tenant_id
                )
            try:
                new = await self._scheduled_task(schedule, tick, tenants[tenant_id], types, now)
            except (RateLimited, Conflict, ValidationError) as exc:
                if refusals == "raise":
                    raise
                out.append(Fired(schedule, tick, None, _reason(exc)))
                continue
            fires.append((len(out), Fire(schedule, tick, new)))
            out.append(Fired(schedule, tick, None, None))
        stored = await asyncio.to_thread(self._store.fire_schedules, [f for _, f in fires], now=now)
        created: list[Task] = []
        for (i, fire), got in zip(fires, stored, strict=True):
            if got is None:
                out[i] = Fired(fire.schedule, fire.fire_at, None, "fired_already")
                continue
            out[i] = Fired(fire.schedule, fire.fire_at, got.task, None)
            created.append(got.task)
            metrics.TASKS_SUBMITTED.labels(got.task.tenant, got.task.type).inc()
            metrics.SCHEDULE_FIRES.labels(fire.schedule.name).inc()
        self._emit(created, at=None)
        if any(t.state is TaskState.QUEUED for t in created):
            self._publisher.work_ready()
        return out

    async def _scheduled_task(
        self,
        schedule: Schedule,
        tick: datetime,
        tenant: Tenant,
        types: Mapping[str, HandlerDefaults],
        now: datetime,
    ) -> NewTask:
        spec = schedule.spec
        fields: dict[str, Any] = {"type": spec.type, "payload": spec.payload}
        fields |= {"priority": spec.priority, "run_at": tick}
        for name in ("cost", "max_attempts", "timeout_s"):
            if getattr(spec, name) is not None:
                fields[name] = getattr(spec, name)
        item = TaskIn(**fields)
        submissions.check(item, types=types, rules=self.config.rules)
        if tenant.state is TenantState.DRAINING:
            raise Conflict(f"tenant {tenant.name!r} is draining and accepts no new tasks")
        if tenant.rate_limit is not None:
            await self._admit([(tenant, submissions.cost_of(item, types))])
        return submissions.new_task(
            item, tenant_id=tenant.id, now=now, types=types, rules=self.config.rules
        )

    def _check_all(
        self, items: Sequence[TaskIn], types: Mapping[str, HandlerDefaults], batch: bool
    ) -> None:
        for i, item in enumerate(items):
            submissions.check(
                item,
                types=types,
                rules=self.config.rules,
                where=f"tasks.{i}." if batch else "",
            )

    async def _tenant_for(self, who: Principal, name: str | None) -> Tenant:
        if not who.is_admin:
            if name is not None and name != who.tenant_name:
                raise Forbidden("a tenant key submits only for its own tenant")
            assert who.tenant_id is not None
            return await asyncio.to_thread(self._store.get_tenant, tenant_id=who.tenant_id)
        return await asyncio.to_thread(self._store.get_tenant, name=name or limits.DEFAULT_TENANT)

    # --- cancel and retry ----------------------------------------------------------------

    async def cancel(self, who: Principal, task_id: int) -> Task:
        task = await asyncio.to_thread(
            self._store.cancel, task_id, tenant_id=_scope(who), now=self._clock.now()
        )
        self._emit([task], at=self._clock.now())
        return task

    async def run_now(self, who: Principal, task_id: int) -> Task:
        """Run a scheduled (or backing-off) task now instead of at its run_at. Not charged
        again: its submission already was."""
        task = await asyncio.to_thread(
            self._store.run_now, task_id, tenant_id=_scope(who), now=self._clock.now()
        )
        self._emit([task], at=self._clock.now())
        self._publisher.work_ready()
        return task

    async def delete(self, who: Principal, task_id: int) -> Task:
        """Delete a scheduled task (409 from any other state); returns it as it was. Its
        event carries ``deleted`` so live views drop the row. The submission's charge is
        not refunded: rate limits count what was asked, like a cancel."""
        task = await asyncio.to_thread(self._store.delete_scheduled, task_id, tenant_id=_scope(who))
        self._emit([task], at=self._clock.now(), deleted=True)
        return task

    async def retry(self, who: Principal, task_id: int) -> tuple[Task, Quota | None]:
        """Requeue a dead or cancelled task, charged like a submission: a retry is one
        more execution the tenant asked for (refused whole when over its limit)."""
        found = await asyncio.to_thread(
            self._store.requeue_candidates,
            TaskFilter(tenant_id=_scope(who), ids=(task_id,)),
            limit=1,
        )
        # Nothing found (wrong state, another tenant's, no such task): nothing is
        # charged, and requeue below raises the conflict or NotFound.
        quota = await self._admit_retries(found)
        task = await asyncio.to_thread(
            self._store.requeue,
            task_id,
            tenant_id=_scope(who),
            now=self._clock.now(),
            by=_actor(who),
        )
        self._emit([task], at=self._clock.now())
        self._publisher.work_ready()
        return task, quota

    async def cancel_matching(
        self, who: Principal, flt: TaskFilter, *, dry_run: bool = False
    ) -> Changed:
        """Cancel every cancellable task matching ``flt`` (scoped to the caller's
        tenant), up to the bulk limit; ``dry_run``: only say which tasks it would."""
        flt = _scoped(who, flt)
        if dry_run:
            return await self._would_change(flt, Transition.CANCEL)
        ids = await asyncio.to_thread(
            self._store.cancel_matching, flt, now=self._clock.now(), limit=self.config.bulk_limit
        )
        await self._emit_changed(ids)
        return Changed(ids, truncated=len(ids) >= self.config.bulk_limit)

    async def _would_change(self, flt: TaskFilter, transition: Transition) -> Changed:
        """The tasks ``transition`` would change now among those matching ``flt``."""
        allowed = tuple(s for s in states.sources(transition) if s is not None)
        wanted = tuple(s for s in flt.states if s in allowed) if flt.states else allowed
        if not wanted:
            return Changed([], truncated=False, dry_run=True)
        page = await asyncio.to_thread(
            self._store.list_tasks,
            replace(flt, states=wanted),
            limit=self.config.bulk_limit,
            cursor=None,
        )
        ids = sorted(t.id for t in page.items)
        return Changed(ids, truncated=page.next_cursor is not None, dry_run=True)

    async def retry_matching(
        self, who: Principal, flt: TaskFilter, *, dry_run: bool = False
    ) -> Changed:
        """Requeue dead and cancelled tasks matching ``flt``, charged to their tenants'
        rate limits like new submissions: refused whole when any is over, with nothing
        changed. ``dry_run``: only say which tasks it would requeue (nothing charged)."""
        flt = _scoped(who, flt)
        found = await asyncio.to_thread(
            self._store.requeue_candidates, flt, limit=self.config.bulk_limit
        )
        if dry_run:
            would = [t.id for t in found]
            return Changed(would, truncated=len(found) >= self.config.bulk_limit, dry_run=True)
        quota = await self._admit_retries(found)
        ids: list[int] = []
        if found:
            # Exactly the tasks charged for: any that died meanwhile waits for the next call.
            charged = TaskFilter(tenant_id=flt.tenant_id, ids=tuple(t.id for t in found))
            ids = await asyncio.to_thread(
                self._store.requeue_matching,
                charged,
                now=self._clock.now(),
                limit=self.config.bulk_limit,
                by=_actor(who),
            )
        if ids:
            await self._emit_changed(ids)
            self._publisher.work_ready()
        return Changed(ids, truncated=len(found) >= self.config.bulk_limit, quota=quota)

    # --- rate limits ---------------------------------------------------------------------

    async def _admit_retries(self, retried: Sequence[TaskCost]) -> Quota | None:
        costs: dict[int, int] = {}
        for t in retried:
            costs[t.tenant_id] = costs.get(t.tenant_id, 0) + t.cost
        asks = []
        for tenant_id, cost in sorted(costs.items()):
            tenant = await asyncio.to_thread(self._store.get_tenant, tenant_id=tenant_id)
            asks.append((tenant, cost))
        return await self._admit(asks)

    async def _admit(self, asks: Sequence[tuple[Tenant, int]]) -> Quota | None:
        """Charge every limited tenant its cost in one atomic call — all or none — and
        return the standing of the last one; raise OverLimit naming the tenant that
        refused (nothing charged anywhere), or Unavailable when the limiter is down and
        the engine fails closed."""
        limited = [(t, cost, t.rate_limit) for t, cost in asks if t.rate_limit is not None]
        for tenant, cost, limit in limited:
            if cost > limit.cost:
                raise ValidationError(
                    f"this request costs {cost}, more than tenant {tenant.name!r} may spend "
                    f"in any window ({limit.cost} per {limit.window_s} s); split it"
                )
        if not limited:
            return None
        try:
            decisions = await asyncio.wait_for(
                self._limiter.acquire_all(
                    [RateAsk(f"tenant:{t.id}", cost, limit) for t, cost, limit in limited]
                ),
                timeout=self.config.limiter_timeout_s,
            )
        except Exception as exc:
            mode = "open" if self.config.rate_limit_fail_open else "closed"
            metrics.RATE_LIMITER_ERRORS.labels(mode).inc()
            limiter_log.warning("rate limiter unavailable (%s); failing %s", exc, mode)
            if self.config.rate_limit_fail_open:
                return None
            raise Unavailable("the rate limiter is unavailable; retry shortly") from exc
        if all(d.allowed for d in decisions):
            _, _, limit = limited[-1]
            return Quota(limit, decisions[-1])
        # The tenant to wait for longest is the one to name.
        (tenant, _, limit), decision = max(
            zip(limited, decisions, strict=True), key=lambda pair: pair[1].retry_after_s
        )
        metrics.RATE_LIMITED.labels(tenant.name).inc()
        quota = Quota(limit, decision)
        retry = max(1, math.ceil(decision.retry_after_s))
        raise OverLimit(
            f"tenant {tenant.name!r} is over its limit of {limit.cost} cost units per "
            f"{limit.window_s} s; retry in {retry} s",
            quota=quota,
        )

    # --- events --------------------------------------------------------------------------

    def _emit(self, tasks: Sequence[Task], *, at: datetime | None, deleted: bool = False) -> None:
        """One event per task, in its state as committed. ``at``: the change's time;
        None takes each task's creation time (a submission). ``deleted``: the tasks are
        gone (their last state is the one they were deleted in)."""
        self._publisher.emit(
            task_event(
                task_id=t.id,
                tenant_id=t.tenant_id,
                tenant=t.tenant,
                type=t.type,
                state=t.state,
                attempt=t.attempt,
                at=t.created_at if at is None else at,
                deleted=deleted,
            )
            for t in tasks
        )

    async def _emit_changed(self, ids: Sequence[int]) -> None:
        """Events for tasks a bulk action changed: the store answers with ids, so the
        tasks are read back for their tenant, type and state."""
        at = self._clock.now()
        for start in range(0, len(ids), _READ_BACK):
            chunk = tuple(ids[start : start + _READ_BACK])
            page = await asyncio.to_thread(
                self._store.list_tasks, TaskFilter(ids=chunk), limit=len(chunk), cursor=None
            )
            self._emit(page.items, at=at)


def _actor(who: Principal) -> str:
    """Who did a manual change, as the task's history shows it: role, key name, prefix."""
    named = f" {who.key_name!r}" if who.key_name else ""
    return f"{who.role.value} key{named} ({who.key_prefix})"[:160]


def _scope(who: Principal) -> int | None:
    return None if who.sees_all else who.tenant_id


def _scoped(who: Principal, flt: TaskFilter) -> TaskFilter:
    """``flt`` narrowed to the caller's tenant (a tenant key never reaches another's)."""
    scope = _scope(who)
    if scope is None or flt.tenant_id == scope:
        return flt
    return replace(flt, tenant_id=scope)
