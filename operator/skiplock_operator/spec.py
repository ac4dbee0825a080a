"""A TaskQueue's spec as validated values: pure.

The Secret a TaskQueue names is read for two fixed entries only, ``reader-key`` (stats,
workers, tenant and schedule lists) and ``admin-key`` (applying tenants and schedules),
never for an entry the TaskQueue chooses: otherwise anyone who may write a TaskQueue could
have the operator send any entry of a Secret it can read (a database password) to the
engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skiplock_operator.scaling import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Fallback,
    ScalingPolicy,
    SpecError,
    StepRules,
)
from skiplock_operator.schedules import ScheduleSpec, ScheduleSpecError, schedules_from_spec
from skiplock_operator.tenants import TenantSpec, TenantSpecError, tenants_from_spec

DEFAULT_POLLING_INTERVAL_S = 15.0
ADMIN_KEY_ENTRY = "admin-key"
READER_KEY_ENTRY = "reader-key"


@dataclass(frozen=True)
class EngineRef:
    url: str | None  # None: the operator's default engine
    secret_name: str
    timeout_s: float = 5.0


@dataclass(frozen=True)
class TaskQueueSpec:
    worker: str
    engine: EngineRef
    autoscaling_enabled: bool = True
    polling_interval_s: float = DEFAULT_POLLING_INTERVAL_S
    policy: ScalingPolicy = field(default_factory=ScalingPolicy)
    tenants: Mapping[str, TenantSpec] = field(default_factory=dict)
    schedules: Mapping[str, ScheduleSpec] = field(default_factory=dict)


def polling_interval_of(spec: Mapping[str, Any]) -> float:
    """The polling interval even of a spec that is invalid otherwise (so its condition is
    refreshed as often as asked), else the default."""
    raw: Any = (spec.get("autoscaling") or {}).get("pollingIntervalSeconds")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return DEFAULT_POLLING_INTERVAL_S
    return value if value > 0 else DEFAULT_POLLING_INTERVAL_S


def parse_spec(spec: Mapping[str, Any], *, namespace: str = "", name: str = "") -> TaskQueueSpec:
    """Raise SpecError with a message fit for a condition when the spec is unusable.
    ``namespace`` and ``name`` (the TaskQueue's) make the engine names of its schedules."""
    worker = (spec.get("workerRef") or {}).get("name")
    if not worker:
        raise SpecError("spec.workerRef.name is required")
    engine = spec.get("engine") or {}
    url = str(engine.get("url") or "") or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise SpecError("spec.engine.url must be an http(s) URL")
    secret = engine.get("adminKeySecretRef") or {}
    if not secret.get("name"):
        raise SpecError("spec.engine.adminKeySecretRef.name is required")
    if secret.get("key") not in (None, ADMIN_KEY_ENTRY):
        raise SpecError(
            f"spec.engine.adminKeySecretRef.key {secret.get('key')!r} is not allowed: the "
            f"operator reads only the entries {ADMIN_KEY_ENTRY!r} and {READER_KEY_ENTRY!r}"
        )
    autoscaling = spec.get("autoscaling") or {}
    try:
        tenants = tenants_from_spec(spec.get("tenants"))
        schedules = schedules_from_spec(spec.get("schedules"), namespace=namespace, taskqueue=name)
        interval = float(autoscaling.get("pollingIntervalSeconds", DEFAULT_POLLING_INTERVAL_S))
        timeout = float(engine.get("timeoutSeconds", 5.0))
    except (TenantSpecError, ScheduleSpecError, TypeError, ValueError) as exc:
        raise SpecError(str(exc)) from exc
    if interval <= 0:
        raise SpecError("spec.autoscaling.pollingIntervalSeconds must be > 0")
    if timeout <= 0:
        raise SpecError("spec.engine.timeoutSeconds must be > 0")
    return TaskQueueSpec(
        worker=str(worker),
        engine=EngineRef(url=url, secret_name=str(secret["name"]), timeout_s=timeout),
        autoscaling_enabled=bool(autoscaling.get("enabled", True)),
        polling_interval_s=interval,
        policy=policy_from_spec(autoscaling),
        tenants=tenants,
        schedules=schedules,
    )


def policy_from_spec(autoscaling: Mapping[str, Any] | None) -> ScalingPolicy:
    """Build a policy from ``spec.autoscaling``, applying the CRD defaults (the API server
    applies them too, but tests and older objects may lack them)."""
    spec = dict(autoscaling or {})
    try:
        fallback_spec = spec.get("fallback")
        fallback = (
            Fallback(
                failure_threshold=int(fallback_spec.get("failureThreshold", 3)),
                replicas=int(fallback_spec["replicas"]),
            )
            if fallback_spec
            else None
        )
        return ScalingPolicy(
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec.get("maxReplicas", 10)),
            target_tasks_per_replica=int(spec.get("targetTasksPerReplica", 10)),
            activation_threshold=int(spec.get("activationThreshold", 0)),
            scale_to_zero_cooldown_s=float(spec.get("scaleToZeroCooldownSeconds", 300)),
            worker_slots=int(spec.get("workerSlots", 4)),
            scale_up=_rules_from_spec(spec.get("scaleUp"), DEFAULT_SCALE_UP),
            scale_down=_rules_from_spec(spec.get("scaleDown"), DEFAULT_SCALE_DOWN),
            fallback=fallback,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"invalid autoscaling spec: {exc}") from exc


def _rules_from_spec(raw: Mapping[str, Any] | None, default: StepRules) -> StepRules:
    spec = dict(raw or {})

    def optional_int(key: str, fallback: int | None) -> int | None:
        value = spec.get(key, fallback)
        return None if value is None else int(value)

    return StepRules(
        stabilization_window_s=float(
            spec.get("stabilizationWindowSeconds", default.stabilization_window_s)
        ),
        max_pods=optional_int("maxPods", default.max_pods),
        max_percent=optional_int("maxPercent", default.max_percent),
        period_s=float(spec.get("periodSeconds", default.period_s)),
    )
