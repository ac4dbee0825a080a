"""Properties of the weighted Deficit Round Robin scheduler."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.scheduler import Demand, DrrState, allocate, settle

tenants = st.lists(
    st.tuples(st.integers(1, 50), st.integers(1, 10), st.integers(0, 200)),
    min_size=1,
    max_size=8,
    unique_by=lambda t: t[0],
)


@given(tenants=tenants, slots=st.integers(0, 300))
def test_never_allocates_more_than_the_free_slots_or_the_ready_tasks(
    tenants: list[tuple[int, int, int]], slots: int
) -> None:
    demands = [Demand(t, w, r) for t, w, r in tenants]
    grants, _ = allocate(DrrState(), demands, slots)
    assert sum(grants.values()) <= slots
    ready = {d.tenant_id: d.ready for d in demands}
    assert all(0 < n <= ready[t] for t, n in grants.items())


@given(tenants=tenants, slots=st.integers(1, 300))
def test_is_work_conserving(tenants: list[tuple[int, int, int]], slots: int) -> None:
    demands = [Demand(t, w, r) for t, w, r in tenants]
    grants, _ = allocate(DrrState(), demands, slots)
    assert sum(grants.values()) == min(slots, sum(d.ready for d in demands))


def _run(weights: dict[int, int], costs: dict[int, int], rounds: int, slots: int) -> Counter[int]:
    """Simulate a backlogged producer: every tenant always has work."""
    state = DrrState()
    served: Counter[int] = Counter()
    for _ in range(rounds):
        demands = [Demand(t, w, 10_000) for t, w in weights.items()]
        grants, state = allocate(state, demands, slots)
        claimed = {t: [costs[t]] * n for t, n in grants.items()}
        state = settle(state, granted=grants, claimed_costs=claimed)
        for t, n in grants.items():
            served[t] += n * costs[t]
    return served


@settings(max_examples=40, deadline=None)
@given(
    weights=st.dictionaries(st.integers(1, 20), st.integers(1, 5), min_size=2, max_size=5),
    slots=st.integers(1, 16),
    cost_seed=st.integers(1, 4),
)
def test_long_run_shares_of_cost_converge_to_the_weights(
    weights: dict[int, int], slots: int, cost_seed: int
) -> None:
    costs = {t: 1 + (t * cost_seed) % 4 for t in weights}
    served = _run(weights, costs, rounds=3000, slots=slots)
    total = sum(served.values())
    wsum = sum(weights.values())
    for t, w in weights.items():
        assert abs(served[t] / total - w / wsum) < 0.05


@given(weights=st.dictionaries(st.integers(1, 30), st.integers(1, 4), min_size=2, max_size=6))
def test_no_backlogged_tenant_waits_more_than_one_round(weights: dict[int, int]) -> None:
    # A round visits every backlogged tenant once; with one slot per call, every tenant
    # is served within (number of tenants) × (largest weight) consecutive calls.
    state = DrrState()
    last_served = dict.fromkeys(weights, 0)
    horizon = len(weights) * max(weights.values())
    for step in range(1, 20 * horizon):
        demands = [Demand(t, w, 10_000) for t, w in weights.items()]
        grants, state = allocate(state, demands, 1)
        state = settle(state, granted=grants, claimed_costs={t: [1] * n for t, n in grants.items()})
        for t in grants:
            last_served[t] = step
        for t in weights:
            assert step - last_served[t] <= horizon


def test_a_small_tenant_is_served_at_once_behind_a_huge_backlog() -> None:
    demands = [Demand(1, 1, 100_000), Demand(2, 1, 3)]
    grants, _ = allocate(DrrState(), demands, 4)
    assert grants[2] >= 2


def test_tenants_that_leave_the_backlog_lose_their_credit() -> None:
    grants, state = allocate(DrrState(), [Demand(1, 5, 1), Demand(2, 1, 50)], 10)
    assert grants == {1: 1, 2: 9}
    _, later = allocate(state, [Demand(2, 1, 50)], 1)
    assert 1 not in later.deficits
