"""Replica arithmetic for a TaskQueue's worker Deployment: pure, clock passed in.

The policy follows KEDA over an HPA, so people who know those get no surprises:

* desired = ceil(queued / targetTasksPerReplica) (KEDA's AverageValue metric), never below
  ceil(running / workerSlots): a busy worker is never asked to go away;
* with minReplicas = 0 the queue is *active* while queued > activationThreshold (strictly)
  or anything runs; an inactive queue is held at one replica until scaleToZeroCooldown has
  passed since it was last active, then set to zero directly (KEDA's cooldownPeriod);
* HPA behaviour: scale up to the lowest and down to the highest recommendation seen within
  the respective stabilisation window, then at most maxPods / maxPercent per periodSeconds
  (the larger step wins, HPA's selectPolicy Max), then clamp to [minReplicas, maxReplicas];
* when queue stats cannot be read, hold the current count until failureThreshold reads in
  a row have failed; then recommend fallback.replicas but never fewer than the current
  count or what the tasks running at the last good read need (KEDA's fallback with
  ``behavior: currentReplicasIfHigher``), and take that recommendation through the same
  stabilisation windows, step limits and bounds as any other: an outage of the stats can
  add workers, never remove busy ones.

What the HPA keeps in controller memory (recommendations, scale events) lives in
``ScalerMemory``, which each decision returns updated; the caller keeps it between polls.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple


class SpecError(ValueError):
    """The autoscaling spec cannot be turned into a policy."""


@dataclass(frozen=True)
class StepRules:
    """HPA ``behavior.scaleUp`` / ``scaleDown`` with one Pods and one Percent policy."""

    stabilization_window_s: float
    max_pods: int | None
    max_percent: int | None
    period_s: float

    def __post_init__(self) -> None:
        if self.stabilization_window_s < 0:
            raise SpecError("stabilizationWindowSeconds must be >= 0")
        if self.period_s <= 0:
            raise SpecError("periodSeconds must be > 0")
        if self.max_pods is not None and self.max_pods < 1:
            raise SpecError("maxPods must be >= 1")
        if self.max_percent is not None and self.max_percent < 1:
            raise SpecError("maxPercent must be >= 1")


DEFAULT_SCALE_UP = StepRules(stabilization_window_s=0, max_pods=4, max_percent=100, period_s=15)
DEFAULT_SCALE_DOWN = StepRules(
    stabilization_window_s=300, max_pods=None, max_percent=100, period_s=15
)


@dataclass(frozen=True)
class Fallback:
    failure_threshold: int
    replicas: int

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise SpecError("fallback.failureThreshold must be >= 1")
        if self.replicas < 0:
            raise SpecError("fallback.replicas must be >= 0")


@dataclass(frozen=True)
class ScalingPolicy:
    """A validated ``spec.autoscaling``; defaults match the CRD's."""

    min_replicas: int = 1
    max_replicas: int = 10
    target_tasks_per_replica: int = 10
    activation_threshold: int = 0
    scale_to_zero_cooldown_s: float = 300
    worker_slots: int = 4
    scale_up: StepRules = DEFAULT_SCALE_UP
    scale_down: StepRules = DEFAULT_SCALE_DOWN
    fallback: Fallback | None = None

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise SpecError("minReplicas must be >= 0")
        if self.max_replicas < 1:
            raise SpecError("maxReplicas must be >= 1")
        if self.min_replicas > self.max_replicas:
            raise SpecError("minReplicas must not exceed maxReplicas")
        if self.target_tasks_per_replica < 1:
            raise SpecError("targetTasksPerReplica must be >= 1")
        if self.worker_slots < 1:
            raise SpecError("workerSlots must be >= 1")
        if self.activation_threshold < 0:
            raise SpecError("activationThreshold must be >= 0")
        if self.scale_to_zero_cooldown_s < 0:
            raise SpecError("scaleToZeroCooldownSeconds must be >= 0")

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


class Sample(NamedTuple):
    at: float
    value: int


@dataclass(frozen=True)
class ScalerMemory:
    """What must survive between polls: the HPA's recommendation and scale-event history,
    when the queue was last active, and the run of failed stats reads."""

    recommendations: tuple[Sample, ...] = ()
    scale_events: tuple[Sample, ...] = ()  # value = replicas added (>0) or removed (<0)
    last_active_at: float | None = None
    consecutive_failures: int = 0
    last_running: int | None = None  # running tasks at the last good read of the stats


@dataclass(frozen=True)
class QueueLoad:
    """The metric: ready tasks the workers could claim now, and tasks running."""

    queued: int
    running: int


class Limit(enum.StrEnum):
    """Why the decision differs from the proportional recommendation; the names are the
    HPA's ScalingLimited reasons."""

    WITHIN_RANGE = "DesiredWithinRange"
    TOO_MANY = "TooManyReplicas"
    TOO_FEW = "TooFewReplicas"
    SCALE_UP_LIMIT = "ScaleUpLimit"
    SCALE_DOWN_LIMIT = "ScaleDownLimit"


@dataclass(frozen=True)
class Decision:
    desired: int
    recommendation: int  # before stabilisation, step limits and clamping
    active: bool
    limit: Limit
    fallback: bool
    stats_ok: bool
    message: str
    memory: ScalerMemory = field(repr=False)

    @property
    def limited(self) -> bool:
        return self.limit is not Limit.WITHIN_RANGE


def running_need(running: int, worker_slots: int) -> int:
    """Replicas the tasks already running occupy."""
    return math.ceil(max(running, 0) / worker_slots)


def decide(
    policy: ScalingPolicy,
    *,
    current: int,
    load: QueueLoad | None,
    memory: ScalerMemory,
    now: float,
) -> Decision:
    """Return the replica count for the worker Deployment. ``load`` is None when the queue
    stats could not be read. ``now`` is seconds on any clock that ``memory`` also uses."""
    current = max(current, 0)
    if load is None:
        return _without_stats(policy, current=current, memory=memory, now=now)

    need = running_need(load.running, policy.worker_slots)
    active = load.queued > policy.activation_threshold or load.running > 0
    last_active = now if active or memory.last_active_at is None else memory.last_active_at
    proportional = math.ceil(max(load.queued, 0) / policy.target_tasks_per_replica)
    recommendation = max(proportional, need)

    if policy.min_replicas == 0 and not active:
        idle_for = now - last_active
        if current == 0 or idle_for >= policy.scale_to_zero_cooldown_s:
            # Scale-to-zero is KEDA's own step, outside the HPA behaviour: it is final.
            memory = _read_ok(_remember(policy, memory, now, 0), last_active, load)
            message = f"queue inactive for {idle_for:.0f}s (cooldown over): idle at 0 replicas"
            return Decision(0, 0, False, Limit.WITHIN_RANGE, False, True, message, memory)
        recommendation = max(recommendation, 1)  # keep one until the cooldown passes
    elif policy.min_replicas == 0:
        recommendation = max(recommendation, 1)  # activation: 0 -> 1 at least

    memory = _read_ok(_remember(policy, memory, now, recommendation), last_active, load)
    stabilized = _stabilize(policy, memory, current=current, now=now)
    stepped, step_limited = _limit_step(policy, memory, current=current, target=stabilized, now=now)
    desired = policy.clamp(max(stepped, min(need, policy.max_replicas)))

    if recommendation > policy.max_replicas:
        limit = Limit.TOO_MANY
    elif recommendation < policy.min_replicas:
        limit = Limit.TOO_FEW
    elif step_limited and desired == stepped:
        limit = Limit.SCALE_UP_LIMIT if stabilized > current else Limit.SCALE_DOWN_LIMIT
    else:
        limit = Limit.WITHIN_RANGE
    message = (
        f"{load.queued} queued, {load.running} running: recommend {recommendation}, "
        f"stabilised {stabilized}, desired {desired} (current {current})"
    )
    return Decision(desired, recommendation, active, limit, False, True, message, memory)


def essential(memory: ScalerMemory) -> ScalerMemory:
    """The part of the history that can still change a decision, to keep across operator
    restarts. A stabilisation window always ends at the newest recommendation, so it is a
    suffix of them: a recommendation with a later one at least as high never decides a
    window's maximum, nor one with a later one at least as low its minimum. Dropping the
    ones that are both changes no decision, and leaves a short list."""
    recs = memory.recommendations
    keep: list[Sample] = []
    high = low = None  # the highest and lowest value after the sample being looked at
    for sample in reversed(recs):
        if high is None or low is None or sample.value > high or sample.value < low:
            keep.append(sample)
        high = sample.value if high is None else max(high, sample.value)
        low = sample.value if low is None else min(low, sample.value)
    return replace(memory, recommendations=tuple(reversed(keep)))


def record_scale(
    memory: ScalerMemory, *, at: float, from_replicas: int, to_replicas: int
) -> ScalerMemory:
    """Note a change the caller actually applied; step limits count these per period."""
    if from_replicas == to_replicas:
        return memory
    event = Sample(at, to_replicas - from_replicas)
    return replace(memory, scale_events=(*memory.scale_events, event))


def _without_stats(
    policy: ScalingPolicy, *, current: int, memory: ScalerMemory, now: float
) -> Decision:
    failures = memory.consecutive_failures + 1
    memory = replace(memory, consecutive_failures=failures)
    fb = policy.fallback
    if fb is None or failures < fb.failure_threshold:
        message = f"queue stats failed {failures} time(s) in a row: holding {current} replicas"
        return Decision(current, current, False, Limit.WITHIN_RANGE, False, False, message, memory)
    # currentReplicasIfHigher: the fallback may add workers, never take busy ones away.
    need = running_need(memory.last_running or 0, policy.worker_slots)
    recommendation = max(fb.replicas, current, need)
    memory = _remember(policy, memory, now, recommendation)
    stabilized = _stabilize(policy, memory, current=current, now=now)
    stepped, step_limited = _limit_step(policy, memory, current=current, target=stabilized, now=now)
    desired = policy.clamp(max(stepped, min(need, policy.max_replicas)))
    if recommendation > policy.max_replicas:
        limit = Limit.TOO_MANY
    elif step_limited and desired == stepped:
        limit = Limit.SCALE_UP_LIMIT
    else:
        limit = Limit.WITHIN_RANGE
    message = (
        f"queue stats failed {failures} times in a row: fallback recommends {recommendation} "
        f"(fallback.replicas {fb.replicas}, never below current {current} or the {need} "
        f"the last known running tasks need), desired {desired}"
    )
    return Decision(desired, recommendation, False, limit, True, False, message, memory)


def _remember(policy: ScalingPolicy, memory: ScalerMemory, now: float, value: int) -> ScalerMemory:
    """Add a recommendation; forget what no window or period can look at any more."""
    up, down = policy.scale_up, policy.scale_down
    keep_recs = max(up.stabilization_window_s, down.stabilization_window_s)
    keep_events = max(up.period_s, down.period_s)
    recs = tuple(s for s in memory.recommendations if now - s.at < keep_recs)
    events = tuple(s for s in memory.scale_events if now - s.at < keep_events)
    return replace(memory, recommendations=(*recs, Sample(now, value)), scale_events=events)


def _read_ok(memory: ScalerMemory, last_active: float, load: QueueLoad) -> ScalerMemory:
    """A good read of the stats ends a failure run and updates what it saw."""
    return replace(
        memory, last_active_at=last_active, consecutive_failures=0, last_running=load.running
    )


def _stabilize(policy: ScalingPolicy, memory: ScalerMemory, *, current: int, now: float) -> int:
    # As the HPA does: the newest recommendation is always in both windows.
    up_window = policy.scale_up.stabilization_window_s
    down_window = policy.scale_down.stabilization_window_s
    newest = memory.recommendations[-1]
    up = min(_values_within(memory.recommendations, now, up_window), default=newest.value)
    down = max(_values_within(memory.recommendations, now, down_window), default=newest.value)
    up, down = min(up, newest.value), max(down, newest.value)
    return min(max(current, up), down)


def _values_within(samples: Iterable[Sample], now: float, window: float) -> list[int]:
    return [s.value for s in samples if now - s.at < window]


def _limit_step(
    policy: ScalingPolicy, memory: ScalerMemory, *, current: int, target: int, now: float
) -> tuple[int, bool]:
    """Apply the per-period step limits; return the count and whether a limit bit."""
    if target > current:
        rules = policy.scale_up
        added, removed = _changes_within(memory.scale_events, now, rules.period_s)
        start = current - added + removed
        ceilings: list[int] = []
        if rules.max_pods is not None:
            ceilings.append(start + rules.max_pods)
        if rules.max_percent is not None:
            ceilings.append(math.ceil(start * (1 + rules.max_percent / 100)))
        if not ceilings:
            return target, False
        # Never below current (events still in the period must age out first) and always
        # allow 0 -> 1, which a percentage of zero would otherwise forbid forever.
        ceiling = max(*ceilings, current, 1)
        return min(target, ceiling), target > ceiling
    if target < current:
        rules = policy.scale_down
        added, removed = _changes_within(memory.scale_events, now, rules.period_s)
        start = current + removed - added
        floors: list[int] = []
        if rules.max_pods is not None:
            floors.append(start - rules.max_pods)
        if rules.max_percent is not None:
            floors.append(math.floor(start * (1 - rules.max_percent / 100)))
        if not floors:
            return target, False
        floor = min(*floors, current)
        return max(target, floor), target < floor
    return target, False


def _changes_within(events: Iterable[Sample], now: float, period: float) -> tuple[int, int]:
    recent = [s.value for s in events if now - s.at < period]
    return sum(v for v in recent if v > 0), -sum(v for v in recent if v < 0)
