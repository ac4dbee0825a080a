"""The replica arithmetic's invariants, by hypothesis: bounds, running tasks, windows,
step limits, the fallback, and restarts from the saved history."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from skiplock_operator.scaling import (
    Fallback,
    QueueLoad,
    Sample,
    ScalerMemory,
    ScalingPolicy,
    StepRules,
    decide,
    record_scale,
    running_need,
)
from skiplock_operator.status import history_from_status, history_to_status

# --- properties ---------------------------------------------------------------------------

rules = st.builds(
    StepRules,
    stabilization_window_s=st.sampled_from([0, 5, 30, 300]),
    max_pods=st.one_of(st.none(), st.integers(1, 10)),
    max_percent=st.one_of(st.none(), st.integers(1, 100)),
    period_s=st.sampled_from([1, 15, 60]),
)


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(0, 10))
    return ScalingPolicy(
        min_replicas=low,
        max_replicas=draw(st.integers(max(low, 1), 50)),
        target_tasks_per_replica=draw(st.integers(1, 100)),
        activation_threshold=draw(st.integers(0, 20)),
        scale_to_zero_cooldown_s=draw(st.sampled_from([0, 10, 300])),
        worker_slots=draw(st.integers(1, 16)),
        scale_up=draw(rules),
        scale_down=draw(rules),
        fallback=draw(
            st.one_of(st.none(), st.builds(Fallback, st.integers(1, 5), st.integers(0, 60)))
        ),
    )


steps = st.lists(
    st.tuples(
        st.floats(0.1, 120),  # seconds since the previous poll
        st.one_of(st.none(), st.builds(QueueLoad, st.integers(0, 5000), st.integers(0, 400))),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(policy=policies(), start=st.integers(0, 60), trace=steps)
def test_every_decision_stays_within_bounds_and_covers_running_tasks(
    policy: ScalingPolicy, start: int, trace: list[tuple[float, QueueLoad | None]]
) -> None:
    memory, current, now = ScalerMemory(), start, 0.0
    for gap, load in trace:
        now += gap
        d = decide(policy, current=current, load=load, memory=memory, now=now)
        assert policy.min_replicas <= d.desired <= policy.max_replicas or (
            # holding an out-of-bounds count while stats are unreadable is the one exception
            not d.stats_ok and not d.fallback and d.desired == current
        )
        if load is not None:
            need = running_need(load.running, policy.worker_slots)
            assert d.desired >= min(need, policy.max_replicas)
            assert d.desired >= 1 or not d.active or policy.max_replicas < 1
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        current = d.desired


@settings(max_examples=200, deadline=None)
@given(
    policy=policies(),
    current=st.integers(1, 50),
    queued=st.integers(0, 5000),
    running=st.integers(0, 200),
)
def test_without_windows_or_limits_the_decision_is_the_clamped_formula(
    policy: ScalingPolicy, current: int, queued: int, running: int
) -> None:
    free = StepRules(0, None, None, 15)
    policy = replace(
        policy, scale_up=free, scale_down=free, min_replicas=max(policy.min_replicas, 1)
    )
    policy = replace(policy, max_replicas=max(policy.max_replicas, policy.min_replicas))
    d = decide(
        policy, current=current, load=QueueLoad(queued, running), memory=ScalerMemory(), now=0
    )
    formula = max(
        math.ceil(queued / policy.target_tasks_per_replica),
        running_need(running, policy.worker_slots),
    )
    assert d.desired == policy.clamp(formula)


@settings(max_examples=200, deadline=None)
@given(policy=policies(), loads=st.lists(st.integers(0, 3000), min_size=2, max_size=20))
def test_scale_down_never_happens_inside_the_window_after_a_higher_recommendation(
    policy: ScalingPolicy, loads: list[int]
) -> None:
    """A scale-down never goes below the highest recommendation made within
    scaleDown.stabilizationWindowSeconds: the HPA's guarantee against flapping."""
    policy = replace(policy, min_replicas=max(policy.min_replicas, 1))
    policy = replace(policy, max_replicas=max(policy.max_replicas, policy.min_replicas))
    window = policy.scale_down.stabilization_window_s
    memory, current, now = ScalerMemory(), policy.min_replicas, 0.0
    history: list[tuple[float, int]] = []
    for queued in loads:
        now += 1.0
        d = decide(policy, current=current, load=QueueLoad(queued, 0), memory=memory, now=now)
        history.append((now, d.recommendation))
        recent = [r for at, r in history if now - at < window] or [d.recommendation]
        if d.desired < current:
            assert d.desired >= policy.clamp(max(recent))
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        current = d.desired


@settings(max_examples=200, deadline=None)
@given(policy=policies(), current=st.integers(0, 50), trace=steps)
def test_one_period_never_adds_more_than_the_step_limits_allow(
    policy: ScalingPolicy, current: int, trace: list[tuple[float, QueueLoad | None]]
) -> None:
    rules_up = policy.scale_up
    if rules_up.max_pods is None or rules_up.max_percent is not None:
        rules_up = replace(rules_up, max_percent=None, max_pods=rules_up.max_pods or 3)
    policy = replace(policy, scale_up=rules_up, min_replicas=0)
    memory, now = ScalerMemory(), 0.0
    applied: list[tuple[float, int, int]] = []
    for gap, load in trace:
        now += gap
        d = decide(policy, current=current, load=load, memory=memory, now=now)
        applied.append((now, current, d.desired))
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        running = load.running if load is not None else (d.memory.last_running or 0)
        need = running_need(running, policy.worker_slots)
        if d.desired > current and d.desired > max(need, policy.min_replicas):
            in_period = [a for a in applied if now - a[0] < rules_up.period_s]
            start = in_period[0][1]
            assert d.desired <= max(start + (rules_up.max_pods or 0), current, 1)
        current = d.desired


@settings(max_examples=300, deadline=None)
@given(policy=policies(), current=st.integers(0, 50), trace=steps)
def test_unreadable_stats_never_lower_replicas_below_current_or_the_last_known_need(
    policy: ScalingPolicy, current: int, trace: list[tuple[float, QueueLoad | None]]
) -> None:
    memory, now, last_running = ScalerMemory(), 0.0, 0
    for gap, load in trace:
        now += gap
        d = decide(policy, current=current, load=load, memory=memory, now=now)
        if load is None:
            assert d.desired >= min(current, policy.max_replicas)
            need = running_need(last_running, policy.worker_slots)
            if d.fallback:
                assert d.desired >= min(need, policy.max_replicas)
        else:
            last_running = load.running
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        current = d.desired


@settings(max_examples=300, deadline=None)
@given(policy=policies(), current=st.integers(0, 50), trace=steps)
def test_every_scale_up_fallback_or_not_respects_the_scale_up_window(
    policy: ScalingPolicy, current: int, trace: list[tuple[float, QueueLoad | None]]
) -> None:
    """A scale-up goes no higher than the lowest recommendation made within
    scaleUp.stabilizationWindowSeconds, whether the recommendation came from the stats
    or from the fallback (holds before the failure threshold recommend nothing)."""
    window = policy.scale_up.stabilization_window_s
    memory, now = ScalerMemory(), 0.0
    made: list[tuple[float, int]] = []
    for gap, load in trace:
        now += gap
        d = decide(policy, current=current, load=load, memory=memory, now=now)
        if d.stats_ok or d.fallback:
            made.append((now, d.recommendation))
        recent = [r for at, r in made if now - at < window]
        need = running_need(
            load.running if load is not None else (d.memory.last_running or 0),
            policy.worker_slots,
        )
        if d.desired > current and recent and d.desired > max(need, policy.min_replicas):
            assert d.desired <= max(current, min(recent), 1)
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        current = d.desired


def restarted(memory: ScalerMemory) -> ScalerMemory:
    """The memory a new operator reads back from what the old one wrote to status (JSON,
    as the API server stores it); the failure run is not saved and starts again."""
    saved = json.loads(json.dumps({"scalingHistory": history_to_status(memory)}))
    back = history_from_status(
        saved, last_active_at=memory.last_active_at, last_running=memory.last_running
    )
    return replace(back, consecutive_failures=memory.consecutive_failures)


@settings(max_examples=300, deadline=None)
@given(policy=policies(), current=st.integers(0, 50), trace=steps)
def test_an_operator_restarted_from_its_saved_history_decides_exactly_as_before(
    policy: ScalingPolicy, current: int, trace: list[tuple[float, QueueLoad | None]]
) -> None:
    memory, now = ScalerMemory(), 1_764_000_000.0
    for gap, load in trace:
        now += gap
        kept = decide(policy, current=current, load=load, memory=memory, now=now)
        again = decide(policy, current=current, load=load, memory=restarted(memory), now=now)
        assert (again.desired, again.recommendation, again.limit, again.message) == (
            kept.desired,
            kept.recommendation,
            kept.limit,
            kept.message,
        )
        memory = record_scale(kept.memory, at=now, from_replicas=current, to_replicas=kept.desired)
        current = kept.desired


def test_the_saved_history_keeps_only_recommendations_that_can_still_decide() -> None:
    memory = ScalerMemory()
    for at, value in [(1.0, 5), (2.0, 9), (3.0, 7), (4.0, 2), (5.0, 4), (6.0, 3)]:
        memory = replace(memory, recommendations=(*memory.recommendations, Sample(at, value)))
    saved = history_to_status(memory)["recommendations"]
    # 5 is below the later 9 and above the later 2: no window's max or min. Each of the
    # others is the max or the min of some window that ends at the newest one.
    assert [(r["at"], r["replicas"]) for r in saved] == [
        (2.0, 9),
        (3.0, 7),
        (4.0, 2),
        (5.0, 4),
        (6.0, 3),
    ]
    assert (
        history_from_status(
            {"scalingHistory": {"recommendations": [{"at": "x"}]}}, last_active_at=None
        )
        == ScalerMemory()
    )
