"""TaskQueue conditions in the metav1.Condition shape: pure.

* Ready: the last reconcile read the engine, applied the tenants and schedules and found
  the workers (ScheduleSyncFailed names a schedule the engine refused, and why).
  A problem with the TaskQueue itself (invalid spec, an engine URL the operator may not
  use, no worker Deployment, a tenant the engine does not have) stops the pass before it
  changes anything, and Ready names it.
* ScalingActive: replicas follow the queue metric (False while stats fail, while another
  autoscaler owns replicas or autoscaling is disabled, and while scaled to zero).
* ScalingLimited: min/max or a step limit held the replica count back (HPA reasons).
* Drained: every tenant the TaskQueue sets to Draining has nothing left to run.
* Conflict: an earlier TaskQueue claims some of this one's tenants (see claims.py).

A condition's lastTransitionTime moves only when its status changes, as the Kubernetes API
conventions require, so ``kubectl wait --for=condition=...`` and alerting behave.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skiplock_operator.ownership import Ownership
from skiplock_operator.scaling import Decision, Limit
from skiplock_operator.tenants import TenantStatus

CONDITION_TYPES = ("Ready", "ScalingActive", "ScalingLimited", "Drained", "Conflict")


def rfc3339(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime.datetime,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": type_,
        "status": "Unknown" if status is None else ("True" if status else "False"),
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": rfc3339(now),
    }
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def merge_conditions(
    previous: Iterable[Mapping[str, Any]], updates: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Replace conditions by type, keeping lastTransitionTime where status did not change;
    conditions of other types (someone else's) are kept as they were."""
    old = {str(c.get("type")): dict(c) for c in previous}
    merged: dict[str, dict[str, Any]] = dict(old)
    for update in updates:
        new = dict(update)
        before = old.get(new["type"])
        if before is not None and before.get("status") == new["status"]:
            new["lastTransitionTime"] = before.get("lastTransitionTime", new["lastTransitionTime"])
        merged[new["type"]] = new
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(merged.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


@dataclass(frozen=True)
class Problem:
    """What stopped a pass before it changed anything: a condition reason and message."""

    reason: str  # InvalidSpec, EngineNotAllowed, WorkerDeploymentMissing, TenantNotFound
    message: str


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile pass learned, as the conditions need it."""

    blocked: Problem | None = None
    stats_error: str | None = None
    tenant_error: str | None = None
    schedule_error: str | None = None
    # Tenant -> the earlier TaskQueue holding it; None when not (or not yet) checked.
    conflicts: Mapping[str, str] | None = None
    ownership: Ownership | None = None
    decision: Decision | None = None
    draining: Mapping[str, TenantStatus] | None = None  # tenants the spec sets to Draining


def build_conditions(
    observed: Observed, *, generation: int | None, now: datetime.datetime
) -> list[dict[str, Any]]:
    def cond(type_: str, status: bool | None, reason: str, message: str) -> dict[str, Any]:
        return condition(type_, status, reason, message, generation=generation, now=now)

    return [
        cond("Ready", *_ready(observed)),
        cond("ScalingActive", *_scaling_active(observed)),
        cond("ScalingLimited", *_scaling_limited(observed)),
        cond("Drained", *_drained(observed)),
        cond("Conflict", *_conflict(observed)),
    ]


def conflict_message(conflicts: Mapping[str, str]) -> str:
    held = ", ".join(f"{t} (by TaskQueue {q})" for t, q in sorted(conflicts.items()))
    return (
        f"tenants claimed by an earlier TaskQueue: {held}; this one neither applies them "
        "nor scales on their depth"
    )


def _ready(o: Observed) -> tuple[bool, str, str]:
    if o.blocked:
        return False, o.blocked.reason, o.blocked.message
    if o.stats_error:
        return False, "EngineUnavailable", o.stats_error
    if o.tenant_error:
        return False, "TenantSyncFailed", o.tenant_error
    if o.conflicts:
        return False, "TenantConflict", conflict_message(o.conflicts)
    if o.schedule_error:
        return False, "ScheduleSyncFailed", o.schedule_error
    return True, "Reconciled", "queue stats read, tenants and schedules applied"


def _scaling_active(o: Observed) -> tuple[bool, str, str]:
    if o.blocked:
        return False, o.blocked.reason, o.blocked.message
    if o.ownership is not None and not o.ownership.patches_replicas:
        return False, o.ownership.reason, o.ownership.message
    return _metric_health(o)


def _metric_health(o: Observed) -> tuple[bool, str, str]:
    d = o.decision
    if d is None:
        return False, "NoRecommendation", "no scaling decision yet"
    if d.fallback:
        return False, "FallbackActive", d.message
    if not d.stats_ok:
        return False, "FailedGetQueueStats", o.stats_error or d.message
    if d.desired == 0:
        return False, "ScaledToZero", d.message
    return True, "ValidMetric", d.message


_LIMIT_MESSAGES = {
    Limit.TOO_MANY: "the desired replica count is more than the maximum replica count",
    Limit.TOO_FEW: "the desired replica count is less than the minimum replica count",
    Limit.SCALE_UP_LIMIT: (
        "the desired replica count is increasing faster than the maximum scale rate"
    ),
    Limit.SCALE_DOWN_LIMIT: (
        "the desired replica count is decreasing faster than the maximum scale rate"
    ),
    Limit.WITHIN_RANGE: "the desired count is within the acceptable range",
}


def _scaling_limited(o: Observed) -> tuple[bool | None, str, str]:
    d = o.decision
    if d is None or not d.stats_ok:
        return None, "NoRecommendation", "no recommendation from queue stats"
    return d.limited, d.limit.value, _LIMIT_MESSAGES[d.limit]


def _conflict(o: Observed) -> tuple[bool | None, str, str]:
    if o.conflicts is None:
        return None, "NotChecked", "other TaskQueues' claims were not checked in this pass"
    if o.conflicts:
        return True, "TenantClaimed", conflict_message(o.conflicts)
    return False, "NoConflict", "no other TaskQueue claims these tenants first"


def _drained(o: Observed) -> tuple[bool | None, str, str]:
    if o.blocked:
        return None, o.blocked.reason, o.blocked.message
    draining = dict(o.draining or {})
    if not draining:
        return False, "NoTenantDraining", "no tenant is set to Draining"
    if o.stats_error:
        return None, "EngineUnavailable", o.stats_error
    pending = {n: s for n, s in draining.items() if not s.drained}
    if not pending:
        return True, "AllDrained", "drained: " + ", ".join(sorted(draining))
    detail = ", ".join(
        f"{n} ({s.queued} queued, {s.running} running)" for n, s in sorted(pending.items())
    )
    return False, "TenantsDraining", "still draining: " + detail
