"""The replica arithmetic: tables for the documented cases (properties: test_scaling_properties)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from skiplock_operator.scaling import (
    Fallback,
    Limit,
    QueueLoad,
    ScalerMemory,
    ScalingPolicy,
    SpecError,
    StepRules,
    decide,
    record_scale,
    running_need,
)
from skiplock_operator.spec import policy_from_spec

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


def test_a_stats_outage_never_takes_busy_workers_away() -> None:
    """10 busy workers, fallback.replicas 2: the fallback keeps all 10 (KEDA's
    currentReplicasIfHigher), however long the stats stay unreadable."""
    policy = replace(NO_WINDOWS, worker_slots=4, fallback=Fallback(failure_threshold=3, replicas=2))
    busy = decide(policy, current=10, load=QueueLoad(0, 40), memory=ScalerMemory(), now=0)
    assert busy.desired == 10
    memory, trace = busy.memory, []
    for t in range(1, 20):
        d = decide(policy, current=10, load=None, memory=memory, now=t * 15)
        memory = d.memory
        trace.append(d.desired)
    assert trace == [10] * 19
    assert d.fallback and "never below current 10" in d.message


def test_the_fallback_never_goes_below_what_the_last_known_running_tasks_need() -> None:
    # Someone scaled the workers down by hand to 3 while 30 tasks ran on 4 slots each.
    policy = replace(NO_WINDOWS, fallback=Fallback(failure_threshold=1, replicas=2))
    seen = decide(policy, current=8, load=QueueLoad(0, 30), memory=ScalerMemory(), now=0)
    d = decide(policy, current=3, load=None, memory=seen.memory, now=15)
    assert d.fallback and d.desired == 8 == running_need(30, 4)


def test_a_fallback_scale_up_goes_through_the_step_limits() -> None:
    policy = replace(
        NO_WINDOWS,
        scale_up=StepRules(0, max_pods=1, max_percent=None, period_s=15),
        fallback=Fallback(failure_threshold=1, replicas=5),
    )
    memory, current, trace = ScalerMemory(), 1, []
    for t in range(0, 80, 5):
        d = decide(policy, current=current, load=None, memory=memory, now=t)
        memory = record_scale(d.memory, at=t, from_replicas=current, to_replicas=d.desired)
        current = d.desired
        trace.append(current)
    # One pod per 15 s period, not 1 -> 5 at once.
    assert trace[:10] == [2, 2, 2, 3, 3, 3, 4, 4, 4, 5]
    assert max(trace) == 5


def test_a_fallback_scale_up_waits_for_the_scale_up_window() -> None:
    policy = replace(
        NO_WINDOWS,
        scale_up=StepRules(60, max_pods=None, max_percent=None, period_s=15),
        fallback=Fallback(failure_threshold=1, replicas=6),
    )
    quiet = decide(policy, current=2, load=QueueLoad(0, 0), memory=ScalerMemory(), now=0)
    early = decide(policy, current=2, load=None, memory=quiet.memory, now=30)
    assert early.fallback and early.desired == 2  # the quiet read 30 s ago is in the window
    late = decide(policy, current=2, load=None, memory=early.memory, now=61)
    assert late.desired == 6


def test_after_a_fallback_the_scale_down_window_holds_its_recommendation() -> None:
    policy = replace(
        NO_WINDOWS,
        scale_down=StepRules(120, max_pods=None, max_percent=None, period_s=15),
        fallback=Fallback(failure_threshold=1, replicas=6),
    )
    d = decide(policy, current=2, load=None, memory=ScalerMemory(), now=0)
    assert d.desired == 6
    back = decide(policy, current=6, load=QueueLoad(0, 0), memory=d.memory, now=60)
    assert back.desired == 6  # stats are back and say 1, but the window remembers 6
    later = decide(policy, current=6, load=QueueLoad(0, 0), memory=back.memory, now=121)
    assert later.desired == 1


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
