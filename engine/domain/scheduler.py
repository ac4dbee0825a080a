"""The fair scheduler: weighted Deficit Round Robin over tenants with ready tasks
(Shreedhar & Varghese, 1995), charging each task's ``cost``.

Each visit to a tenant adds ``quantum × weight`` to its deficit; the tenant may take tasks
while its deficit covers their cost. The producer does not know a tenant's task costs
before it claims them, so :func:`allocate` grants task *counts* against an estimate of the
tenant's mean cost, and :func:`settle` charges the true cost once the claim returns
(refunding grants the claim could not fill). The quantum is the largest estimated cost, so
every backlogged tenant gets at least one task per round: none waits more than one round.

Everything here is pure; the state is a value the producer keeps between cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

# How fast the per-tenant mean-cost estimate follows observed costs.
EMA_ALPHA = 0.2


@dataclass(frozen=True, slots=True)
class Demand:
    """A tenant with ready work. ``ready`` bounds how many tasks it can use (a claim may
    still return fewer)."""

    tenant_id: int
    weight: int
    ready: int


@dataclass(frozen=True, slots=True)
class DrrState:
    deficits: Mapping[int, float] = field(default_factory=dict)
    mean_cost: Mapping[int, float] = field(default_factory=dict)
    # The tenant to visit first next time, and whether it already got this round's quantum
    # (it was interrupted mid-turn when slots ran out).
    cursor: int | None = None
    cursor_topped_up: bool = False


def _start_index(ids: Sequence[int], cursor: int | None) -> int:
    if cursor is None:
        return 0
    for i, tenant in enumerate(ids):
        if tenant >= cursor:
            return i
    return 0


def allocate(
    state: DrrState, demands: Sequence[Demand], slots: int
) -> tuple[dict[int, int], DrrState]:
    """Split ``slots`` free worker slots among ``demands``; returns task counts per tenant
    and the state with the estimated charges applied."""
    active = sorted((d for d in demands if d.ready > 0 and d.weight > 0), key=lambda d: d.tenant_id)
    if not active or slots <= 0:
        return {}, state
    ids = [d.tenant_id for d in active]
    est = {d.tenant_id: max(1.0, state.mean_cost.get(d.tenant_id, 1.0)) for d in active}
    quantum = max(est.values())
    # Tenants that left the backlog lose their deficit (classic DRR): idle time earns
    # no credit.
    deficits = {t: state.deficits.get(t, 0.0) for t in ids}
    grants = dict.fromkeys(ids, 0)
    index = _start_index(ids, state.cursor)
    topped_up = state.cursor_topped_up and state.cursor == ids[index]
    while slots > 0 and any(grants[d.tenant_id] < d.ready for d in active):
        demand = active[index]
        t = demand.tenant_id
        if grants[t] < demand.ready:
            if not topped_up:
                deficits[t] += quantum * demand.weight
            while deficits[t] >= est[t] and grants[t] < demand.ready and slots > 0:
                grants[t] += 1
                deficits[t] -= est[t]
                slots -= 1
            if slots == 0 and deficits[t] >= est[t] and grants[t] < demand.ready:
                # Interrupted mid-turn: resume this tenant next time without a new quantum.
                return _done(grants, deficits, state, cursor=t, topped_up=True)
        topped_up = False
        index = (index + 1) % len(active)
    return _done(grants, deficits, state, cursor=ids[index], topped_up=False)


def _done(
    grants: dict[int, int],
    deficits: dict[int, float],
    state: DrrState,
    *,
    cursor: int,
    topped_up: bool,
) -> tuple[dict[int, int], DrrState]:
    kept_costs = {t: c for t, c in state.mean_cost.items() if t in deficits}
    return (
        {t: n for t, n in grants.items() if n > 0},
        DrrState(
            deficits=deficits, mean_cost=kept_costs, cursor=cursor, cursor_topped_up=topped_up
        ),
    )


def settle(
    state: DrrState,
    *,
    granted: Mapping[int, int],
    claimed_costs: Mapping[int, Sequence[int]],
) -> DrrState:
    """Replace the estimated charge of each grant with the cost of what was claimed."""
    deficits = dict(state.deficits)
    means = dict(state.mean_cost)
    for tenant, count in granted.items():
        costs = claimed_costs.get(tenant, ())
        estimate = max(1.0, means.get(tenant, 1.0))
        deficits[tenant] = deficits.get(tenant, 0.0) + count * estimate - sum(costs)
        for cost in costs:
            means[tenant] = (1 - EMA_ALPHA) * means.get(tenant, float(cost)) + EMA_ALPHA * cost
    return replace(state, deficits=deficits, mean_cost=means)
