"""The fair scheduler: tenants share worker time in proportion to their weights.

**What a weight shares.** Worker time, as a CPU scheduler shares a CPU. A task is charged
``cost × the seconds it holds a worker slot``, at least ``cost × floor_s`` (the floor
stands for the engine's own work per task — claim, bookkeeping, completion — so a no-op
task is not free). While tenants are backlogged, each one's charged total tracks its
weight's share: a weight-50 tenant gets 50× the worker time of a weight-1 tenant whatever
its tasks' durations, and between tasks of equal duration a cost-5 task is charged like
five cost-1 tasks, so an equal-weight tenant of cost-1 tasks runs five times as many.

**How.** Start-time fair queueing (Goyal, Vin & Cheng, 1996) — the virtual-time scheme of
Linux's CFS — with slots as the servers. Each tenant has a virtual time: its charges
divided by its weight. Every free slot goes, one at a time, to the backlogged tenant with
the smallest virtual time, which is charged at once with an estimate (a running average
of its tasks' charges); the true charge replaces the estimate when the task finishes, and
a task that runs past its estimate is charged its elapsed time at every scheduling
decision, so a long task cannot hold slots on a stale estimate. Grants a claim could not
fill are refunded.

A tenant that becomes backlogged starts at the scheduler's virtual time (the start time
of the latest grant) unless it is already ahead of it, so idle time earns no credit and
leaving and coming back sheds no debt. Virtual times are kept relative to that clock, so
they stay bounded however long the scheduler runs.

Everything here is pure: the caller passes the time in (monotonic seconds) and keeps the
scheduler between cycles. The producer drives it: :meth:`FairScheduler.grant` before a
claim, :meth:`FairScheduler.started` with what the claim returned, and
:meth:`FairScheduler.finished` when a task frees its slot."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A task's minimum charge per unit of cost, in slot-seconds: roughly what the engine
# spends per task besides the handler (one claim and one completion, batched).
FLOOR_S = 0.005
# How fast a tenant's charge estimate follows its observed charges.
EMA_ALPHA = 0.2


@dataclass(frozen=True, slots=True)
class Demand:
    """A tenant with queued work: ``ready`` is how many tasks it has queued (its true
    backlog), which bounds how many slots it can use."""

    tenant_id: int
    weight: int
    ready: int


@dataclass(frozen=True, slots=True)
class Start:
    """A claimed task, as the scheduler charges it."""

    task_id: int
    tenant_id: int
    cost: int


@dataclass(slots=True)
class _Tenant:
    vtime: float  # charges / weight, relative to the scheduler's virtual time
    weight: int
    estimate: float  # running average of this tenant's charge per task
    running: int = 0


@dataclass(slots=True)
class _Run:
    tenant_id: int
    cost: int
    started: float
    charged: float  # charged so far: the estimate, then the time it ran


class FairScheduler:
    """Weighted fair sharing of worker slots between tenants; see the module docstring."""

    def __init__(self, *, floor_s: float = FLOOR_S, ema_alpha: float = EMA_ALPHA) -> None:
        if floor_s <= 0 or not 0 < ema_alpha <= 1:
            raise ValueError("scheduler: floor_s > 0 and 0 < ema_alpha <= 1")
        self.floor_s = floor_s
        self.ema_alpha = ema_alpha
        self._tenants: dict[int, _Tenant] = {}
        self._runs: dict[int, _Run] = {}
        self._backlogged: frozenset[int] = frozenset()
        # The charge estimate for a tenant not seen yet: the average over all tenants.
        self._prior = floor_s
        # Grants charged but not yet settled by ``started``: tenant -> (count, charge each).
        self._unsettled: dict[int, tuple[int, float]] = {}

    # --- the producer's calls --------------------------------------------------------------
    def grant(self, demands: Iterable[Demand], slots: int, *, now: float) -> dict[int, int]:
        """Hand out ``slots`` free slots, one at a time, each to the backlogged tenant with
        the smallest virtual time, charging each grant its tenant's estimate; returns
        tasks to claim per tenant. Never more than a tenant's ``ready`` tasks, and never a
        free slot left while some tenant has tasks left ungranted."""
        self._settle((), now=now)  # a claim that never reported back took nothing
        self._accrue(now)
        demand: dict[int, Demand] = {}
        for d in demands:
            if d.ready > 0 and d.weight > 0:
                demand[d.tenant_id] = d
        for tenant_id, d in demand.items():
            tenant = self._tenants.get(tenant_id)
            if tenant is None:
                self._tenants[tenant_id] = _Tenant(0.0, d.weight, self._prior)
            else:
                tenant.weight = d.weight
                if tenant_id not in self._backlogged:
                    tenant.vtime = max(tenant.vtime, 0.0)
        self._backlogged = frozenset(demand)
        grants: dict[int, int] = {}
        heap = [(self._tenants[t].vtime, t) for t in demand]
        heapq.heapify(heap)
        clock = 0.0
        while slots > 0 and heap:
            start, tenant_id = heapq.heappop(heap)
            clock = max(clock, start)
            tenant = self._tenants[tenant_id]
            tenant.vtime += tenant.estimate / tenant.weight
            grants[tenant_id] = grants.get(tenant_id, 0) + 1
            slots -= 1
            if grants[tenant_id] < demand[tenant_id].ready:
                heapq.heappush(heap, (tenant.vtime, tenant_id))
        self._unsettled = {t: (n, self._tenants[t].estimate) for t, n in grants.items()}
        self._advance(clock)
        return grants

    def started(self, starts: Sequence[Start], *, now: float) -> None:
        """Settle the last grant with what the claim returned: each claimed task runs
        from ``now`` on its estimated charge; grants the claim could not fill are
        refunded. Call it (with no starts) also when the claim failed."""
        self._settle(starts, now=now)

    def finished(self, task_id: int, *, now: float) -> None:
        """A task freed its slot: replace what it was charged with its true charge."""
        run = self._runs.pop(task_id, None)
        if run is None:
            return
        charge = run.cost * max(self.floor_s, now - run.started)
        tenant = self._tenants[run.tenant_id]
        tenant.vtime += (charge - run.charged) / tenant.weight
        tenant.running -= 1
        tenant.estimate += self.ema_alpha * (charge - tenant.estimate)
        self._prior += self.ema_alpha * (charge - self._prior)

    # --- inspection --------------------------------------------------------------------------
    def virtual_times(self) -> dict[int, float]:
        """Each known tenant's virtual time, relative to the scheduler's virtual time."""
        return {t: s.vtime for t, s in self._tenants.items()}

    def estimate(self, tenant_id: int) -> float:
        """The charge the next grant to ``tenant_id`` would be charged."""
        tenant = self._tenants.get(tenant_id)
        return self._prior if tenant is None else tenant.estimate

    @property
    def running(self) -> int:
        """Tasks started and not finished yet."""
        return len(self._runs)

    # --- internals -----------------------------------------------------------------------------
    def _settle(self, starts: Sequence[Start], *, now: float) -> None:
        filled: dict[int, int] = {}
        for s in starts:
            granted = self._unsettled.get(s.tenant_id)
            if granted is None or filled.get(s.tenant_id, 0) >= granted[0]:
                raise ValueError(f"task {s.task_id}: tenant {s.tenant_id} was not granted it")
            filled[s.tenant_id] = filled.get(s.tenant_id, 0) + 1
            self._runs[s.task_id] = _Run(s.tenant_id, s.cost, now, granted[1])
            self._tenants[s.tenant_id].running += 1
        for tenant_id, (count, each) in self._unsettled.items():
            tenant = self._tenants[tenant_id]
            tenant.vtime -= (count - filled.get(tenant_id, 0)) * each / tenant.weight
        self._unsettled = {}

    def _accrue(self, now: float) -> None:
        for run in self._runs.values():
            due = run.cost * (now - run.started)
            if due > run.charged:
                tenant = self._tenants[run.tenant_id]
                tenant.vtime += (due - run.charged) / tenant.weight
                run.charged = due

    def _advance(self, clock: float) -> None:
        """Move the scheduler's virtual time to ``clock`` (virtual times are stored
        relative to it) and forget tenants that can no longer matter: not backlogged,
        nothing running, no debt."""
        for tenant_id in list(self._tenants):
            tenant = self._tenants[tenant_id]
            tenant.vtime -= clock
            if tenant_id not in self._backlogged and not tenant.running and tenant.vtime <= 0:
                del self._tenants[tenant_id]
