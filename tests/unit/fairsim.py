"""A simulated producer for the fair scheduler's tests: it drives
:class:`~skiplock.domain.scheduler.FairScheduler` the way ``services/producer.py`` does —
``grant`` with each tenant's true backlog and the free slots, a claim that may return
fewer tasks than granted (another instance took some), ``started`` with what it got,
``finished`` as each task frees its slot — over simulated time, with tasks of given
costs and durations and slots freed one at a time, in bursts or mixed."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from skiplock.domain.scheduler import FLOOR_S, Demand, FairScheduler, Start


@dataclass(frozen=True)
class Workload:
    """One tenant's tasks: integer costs and durations (seconds) drawn uniformly from the
    ranges; ``tasks`` None is an endless backlog; they are queued at ``arrives`` and, with
    ``every``, as many again every ``every`` seconds (the tenant leaves and comes back)."""

    weight: int
    cost: tuple[int, int] = (1, 1)
    duration: tuple[float, float] = (0.02, 0.02)
    tasks: int | None = None
    arrives: float = 0.0
    every: float | None = None

    def max_charge(self) -> float:
        return self.cost[1] * max(FLOOR_S, self.duration[1])


@dataclass(frozen=True)
class Ran:
    tenant: int
    start: float
    end: float
    cost: int

    @property
    def charge(self) -> float:
        return self.cost * max(FLOOR_S, self.end - self.start)


# The producer's poll interval, in simulated seconds, when a claim came back empty.
POLL_S = 0.01

# How many completions the producer lets pass before its next cycle: "one" (every freed
# slot wakes it), "burst" (only once every slot is free) or "mixed" (a random number).
Release = str


@dataclass
class Sim:
    workloads: dict[int, Workload]
    slots: int
    release: Release = "one"
    seed: int = 0
    steal: float = 0.0  # chance that another instance takes part of a tenant's grant
    scheduler: FairScheduler = field(default_factory=FairScheduler)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = 0.0
        self.backlog = dict.fromkeys(self.workloads, 0)
        self._arrivals = {t: w.arrives for t, w in self.workloads.items()}
        self.ran: list[Ran] = []
        self._running: list[tuple[float, int, int, float, int]] = []  # end, id, tenant, ...
        self._next_id = 0
        self.cycles = 0
        self.grant_calls = 0
        self.granted_to: set[int] = set()  # the tenants the latest grant saw backlogged

    # --- the producer's cycle ------------------------------------------------------------------
    def cycle(self) -> dict[int, int]:
        """One producer cycle at ``self.now``: grant, claim, start."""
        self._arrive()
        free = self.slots - len(self._running)
        if free <= 0:
            return {}
        demands = [Demand(t, self.workloads[t].weight, n) for t, n in self.backlog.items() if n > 0]
        if not demands:
            return {}
        grants = self.scheduler.grant(demands, free, now=self.now)
        self.granted_to = {d.tenant_id for d in demands}
        self.grant_calls += 1
        assert sum(grants.values()) <= free
        starts: list[Start] = []
        for tenant, n in grants.items():
            assert 0 < n <= self.backlog[tenant]
            got = n
            if self.steal and self.rng.random() < self.steal:
                got = self.rng.randint(0, n)
                self._take(tenant, n - got)  # claimed elsewhere: gone from the backlog
            for _ in range(got):
                starts.append(self._start(tenant))
        self.scheduler.started(starts, now=self.now)
        self.cycles += 1
        return grants

    def running_tenants(self) -> set[int]:
        return {r[2] for r in self._running}

    def _take(self, tenant: int, n: int) -> None:
        if self.workloads[tenant].tasks is not None:
            self.backlog[tenant] -= n

    def _start(self, tenant: int) -> Start:
        w = self.workloads[tenant]
        cost = self.rng.randint(*w.cost)
        duration = self.rng.uniform(*w.duration)
        self._next_id += 1
        heapq.heappush(self._running, (self.now + duration, self._next_id, tenant, self.now, cost))
        self._take(tenant, 1)
        return Start(self._next_id, tenant, cost)

    def _arrive(self) -> None:
        for t, w in self.workloads.items():
            due = self._arrivals.get(t)
            if due is not None and due <= self.now:
                self.backlog[t] += w.tasks if w.tasks is not None else 10**9
                if w.every is None or w.tasks is None:
                    del self._arrivals[t]
                else:
                    self._arrivals[t] = due + w.every

    def _next_arrival(self) -> float | None:
        return min(self._arrivals.values(), default=None)

    # --- time passing ------------------------------------------------------------------------
    def _release_count(self) -> int:
        if self.release == "one":
            return 1
        if self.release == "burst":
            return self.slots
        return self.rng.randint(1, self.slots)

    def step(self) -> bool:
        """Let completions pass (as many as the release pattern says, or up to the next
        arrival), then run a producer cycle. False when nothing is left to happen."""
        arrival = self._next_arrival()
        if not self._running:
            if any(self.backlog.values()):
                self.now += POLL_S  # the claim came back empty: poll again
            elif arrival is None:
                return False
            else:
                self.now = max(self.now, arrival)
        else:
            for _ in range(self._release_count()):
                if not self._running:
                    break
                end = self._running[0][0]
                if arrival is not None and arrival < end:
                    self.now = max(self.now, arrival)
                    break
                end, task_id, tenant, start, cost = heapq.heappop(self._running)
                self.now = end
                self.scheduler.finished(task_id, now=end)
                self.ran.append(Ran(tenant, start, end, cost))
        self.cycle()
        return True

    def run(
        self,
        *,
        until: float | None = None,
        completions: int | None = None,
        each: Callable[[Sim], None] | None = None,
    ) -> Sim:
        self.cycle()
        while (until is None or self.now < until) and (
            completions is None or len(self.ran) < completions
        ):
            if not self.step():
                break
            if each is not None:
                each(self)
        return self

    # --- measures ------------------------------------------------------------------------------
    def charges(self, start: float = 0.0, end: float = float("inf")) -> dict[int, float]:
        """Worker time charged per tenant for the tasks that started in [start, end)."""
        out = dict.fromkeys(self.workloads, 0.0)
        for r in self.ran:
            if start <= r.start < end:
                out[r.tenant] += r.charge
        return out

    def started_count(self, start: float = 0.0, end: float = float("inf")) -> dict[int, int]:
        out = dict.fromkeys(self.workloads, 0)
        for r in self.ran:
            if start <= r.start < end:
                out[r.tenant] += 1
        return out


def relative_errors(charges: dict[int, float], weights: dict[int, int]) -> dict[int, float]:
    """|share − weight share| / weight share, per tenant."""
    total = sum(charges.values())
    wsum = sum(weights.values())
    return {t: abs(charges[t] / total - w / wsum) / (w / wsum) for t, w in weights.items()}
