"""The replica arithmetic: tables for the documented cases, hypothesis for the invariants."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_operator.scaling import (
    Fallback,
    Limit,
    QueueLoad,
    Sample,
    ScalerMemory,
    ScalingPolicy,
    SpecError,
    StepRules,
    decide,
    policy_from_spec,
    record_scale,
    running_need,
)
from engine_operator.status import history_from_status, history_to_status

NO_WINDOWS = ScalingPolicy(
    min_replicas=1,
    max_replicas=20,
    target_tasks_per_replica=10,
    worker_slots=4,
    scale_up=StepRules(stabilization_window_s=0, max_pods=None, max_percent=None, period_s=15),
    scale_down=StepRules(stabilization_window_s=0, max_pods=None, max_percent=None, period_s=15),
)


def once(policy: ScalingPolicy, *, current: int, queued: int, running: int = 0) -> int:
    return decide(
        policy, current=current, load=QueueLoad(queued, running), memory=ScalerMemory(), now=1000.0
    ).desired


@pytest.mark.parametrize(
    ("current", "queued", "running", "expected"),
    [
        (1, 0, 0, 1),  # idle: the minimum
        (1, 10, 0, 1),  # exactly one replica's worth
        (1, 11, 0, 2),  # ceil
        (3, 95, 0, 10),  # ceil(95 / 10)
        (3, 1000, 0, 20),  # clamped to max
        (8, 0, 30, 8),  # 30 running on 4 slots need 8 replicas: never below
        (12, 0, 30, 8),  # ... but scale down to exactly that
        (2, 40, 30, 8),  # running-need beats the queue's 4
        (5, 0, 500, 20),  # max wins over running-need
    ],
)
def test_desired_is_ceil_of_depth_over_target_within_bounds_and_running_need(
    current: int, queued: int, running: int, expected: int
) -> None:
    assert once(NO_WINDOWS, current=current, queued=queued, running=running) == expected


def test_limit_reasons_name_what_held_the_count_back() -> None:
    def limit(policy: ScalingPolicy, current: int, queued: int) -> Limit:
        return decide(
            policy, current=current, load=QueueLoad(queued, 0), memory=ScalerMemory(), now=0
        ).limit

    assert limit(NO_WINDOWS, 3, 30) is Limit.WITHIN_RANGE
    assert limit(NO_WINDOWS, 20, 10_000) is Limit.TOO_MANY
    assert limit(replace(NO_WINDOWS, min_replicas=3), 3, 0) is Limit.TOO_FEW
    stepped = replace(NO_WINDOWS, scale_up=StepRules(0, max_pods=2, max_percent=None, period_s=15))
    assert limit(stepped, 3, 150) is Limit.SCALE_UP_LIMIT


def test_scale_down_waits_for_the_highest_recommendation_in_the_window() -> None:
    policy = replace(
        NO_WINDOWS, scale_down=StepRules(60, max_pods=None, max_percent=None, period_s=15)
    )
    memory = ScalerMemory()
    current = 1
    trace = []
    # queue: 80 tasks at t=0, then empty from t=10 on
    for t, queued in [(0, 80), (10, 0), (30, 0), (59, 0), (61, 0), (75, 0)]:
        d = decide(policy, current=current, load=QueueLoad(queued, 0), memory=memory, now=t)
        memory, current = d.memory, d.desired
        trace.append(current)
    assert trace == [8, 8, 8, 8, 1, 1]


def test_scale_up_stabilisation_takes_the_lowest_recommendation_in_the_window() -> None:
    policy = replace(
        NO_WINDOWS, scale_up=StepRules(30, max_pods=None, max_percent=None, period_s=15)
    )
    memory = ScalerMemory()
    current = 1
    trace = []
    for t, queued in [(0, 10), (10, 50), (20, 80), (31, 80), (41, 80)]:
        d = decide(policy, current=current, load=QueueLoad(queued, 0), memory=memory, now=t)
        memory, current = d.memory, d.desired
        trace.append(current)
    assert trace == [1, 1, 1, 5, 8]


def test_scale_up_is_limited_per_period_by_the_larger_of_pods_and_percent() -> None:
    policy = replace(NO_WINDOWS, max_replicas=100, scale_up=StepRules(0, 4, 100, 15))
    memory = ScalerMemory()
    current, trace = 1, []
    for t in (0, 5, 16, 32, 48):
        d = decide(policy, current=current, load=QueueLoad(1000, 0), memory=memory, now=t)
        memory = record_scale(d.memory, at=t, from_replicas=current, to_replicas=d.desired)
        current = d.desired
        trace.append(current)
    # 1 -> +4 (pods beats 100 %) = 5; within the same period no more; then 5 -> 10 -> 20 -> 40
    assert trace == [5, 5, 10, 20, 40]


def test_scale_down_is_limited_per_period() -> None:
    policy = replace(NO_WINDOWS, scale_down=StepRules(0, max_pods=2, max_percent=None, period_s=10))
    memory = ScalerMemory()
    current, trace = 10, []
    for t in (0, 5, 11, 22, 33):
        d = decide(policy, current=current, load=QueueLoad(0, 0), memory=memory, now=t)
        memory = record_scale(d.memory, at=t, from_replicas=current, to_replicas=d.desired)
        current = d.desired
        trace.append(current)
    assert trace == [8, 8, 6, 4, 2]


def test_scale_to_zero_needs_min_zero_inactivity_and_the_cooldown() -> None:
    policy = replace(
        NO_WINDOWS, min_replicas=0, activation_threshold=5, scale_to_zero_cooldown_s=100
    )
    memory, current, trace = ScalerMemory(), 0, []
    steps = [
        (0, 3, 0),  # below the activation threshold: stays at zero
        (10, 6, 0),  # active (6 > 5): at least one
        (20, 2, 0),  # inactive: hold one while cooling down
        (109, 0, 0),  # 99 s since last active (t=10)
        (111, 0, 0),  # cooldown over: zero
        (130, 0, 0),
        (140, 0, 1),  # a running task is activity
    ]
    for t, queued, running in steps:
        d = decide(policy, current=current, load=QueueLoad(queued, running), memory=memory, now=t)
        memory, current = d.memory, d.desired
        trace.append(current)
    assert trace == [0, 1, 1, 1, 0, 0, 1]


def test_activation_threshold_is_ignored_when_min_is_above_zero() -> None:
    policy = replace(NO_WINDOWS, min_replicas=2, activation_threshold=1000)
    assert once(policy, current=2, queued=100) == 10


def test_scale_from_zero_is_possible_with_only_a_percent_limit() -> None:
    policy = replace(
        NO_WINDOWS,
        min_replicas=0,
        scale_up=StepRules(0, max_pods=None, max_percent=100, period_s=15),
    )
    assert once(policy, current=0, queued=50) == 1


def test_stats_failures_hold_then_fall_back_after_the_threshold() -> None:
    policy = replace(NO_WINDOWS, fallback=Fallback(failure_threshold=3, replicas=6))
    memory, trace, fallbacks = ScalerMemory(), [], []
    for t in range(4):
        d = decide(policy, current=2, load=None, memory=memory, now=t)
        memory = d.memory
        trace.append(d.desired)
        fallbacks.append(d.fallback)
    assert trace == [2, 2, 6, 6]
    assert fallbacks == [False, False, True, True]
    recovered = decide(policy, current=6, load=QueueLoad(0, 0), memory=memory, now=10)
    assert recovered.memory.consecutive_failures == 0
    assert recovered.stats_ok


def test_without_a_fallback_failures_hold_the_current_count() -> None:
    memory = ScalerMemory()
    for t in range(10):
        d = decide(NO_WINDOWS, current=7, load=None, memory=memory, now=t)
        memory = d.memory
        assert d.desired == 7


def test_fallback_replicas_are_clamped_to_the_bounds() -> None:
    policy = replace(
        NO_WINDOWS, max_replicas=5, fallback=Fallback(failure_threshold=1, replicas=50)
    )
    assert decide(policy, current=1, load=None, memory=ScalerMemory(), now=0).desired == 5


def test_policy_from_spec_applies_crd_defaults_and_rejects_nonsense() -> None:
    policy = policy_from_spec({})
    assert policy.min_replicas == 1
    assert policy.max_replicas == 10
    assert policy.scale_down.stabilization_window_s == 300
    assert policy.scale_up.max_pods == 4
    assert policy.fallback is None
    full = policy_from_spec(
        {
            "minReplicas": 0,
            "maxReplicas": 3,
            "scaleDown": {"stabilizationWindowSeconds": 5, "maxPods": 1, "periodSeconds": 2},
            "fallback": {"replicas": 2},
        }
    )
    assert full.scale_down == StepRules(5, max_pods=1, max_percent=100, period_s=2)
    assert full.fallback == Fallback(failure_threshold=3, replicas=2)
    with pytest.raises(SpecError, match="minReplicas"):
        policy_from_spec({"minReplicas": 5, "maxReplicas": 2})
    with pytest.raises(SpecError):
        policy_from_spec({"targetTasksPerReplica": "many"})
    with pytest.raises(SpecError):
        policy_from_spec({"fallback": {"failureThreshold": 2}})


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
    policy = replace(policy, scale_up=rules_up, fallback=None, min_replicas=0)
    memory, now = ScalerMemory(), 0.0
    applied: list[tuple[float, int, int]] = []
    for gap, load in trace:
        now += gap
        d = decide(policy, current=current, load=load, memory=memory, now=now)
        applied.append((now, current, d.desired))
        memory = record_scale(d.memory, at=now, from_replicas=current, to_replicas=d.desired)
        need = 0 if load is None else running_need(load.running, policy.worker_slots)
        if d.desired > current and d.desired > max(need, policy.min_replicas):
            in_period = [a for a in applied if now - a[0] < rules_up.period_s]
            start = in_period[0][1]
            assert d.desired <= max(start + (rules_up.max_pods or 0), current, 1)
        current = d.desired


def restarted(memory: ScalerMemory) -> ScalerMemory:
    """The memory a new operator reads back from what the old one wrote to status (JSON,
    as the API server stores it); the failure run is not saved and starts again."""
    saved = json.loads(json.dumps({"scalingHistory": history_to_status(memory)}))
    back = history_from_status(saved, last_active_at=memory.last_active_at)
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
