"""A TaskQueue's spec as validated values: pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine_operator.scaling import ScalingPolicy, SpecError, policy_from_spec
from engine_operator.tenants import TenantSpec, TenantSpecError, tenants_from_spec

DEFAULT_POLLING_INTERVAL_S = 15.0


@dataclass(frozen=True)
class EngineRef:
    url: str
    secret_name: str
    secret_key: str = "admin-key"  # noqa: S105 - a key name in the Secret, not a secret
    timeout_s: float = 5.0


@dataclass(frozen=True)
class TaskQueueSpec:
    worker: str
    engine: EngineRef
    autoscaling_enabled: bool = True
    polling_interval_s: float = DEFAULT_POLLING_INTERVAL_S
    policy: ScalingPolicy = field(default_factory=ScalingPolicy)
    tenants: Mapping[str, TenantSpec] = field(default_factory=dict)


def parse_spec(spec: Mapping[str, Any]) -> TaskQueueSpec:
    """Raise SpecError with a message fit for a condition when the spec is unusable."""
    worker = (spec.get("workerRef") or {}).get("name")
    if not worker:
        raise SpecError("spec.workerRef.name is required")
    engine = spec.get("engine") or {}
    url = str(engine.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise SpecError("spec.engine.url must be an http(s) URL")
    secret = engine.get("adminKeySecretRef") or {}
    if not secret.get("name"):
        raise SpecError("spec.engine.adminKeySecretRef.name is required")
    autoscaling = spec.get("autoscaling") or {}
    try:
        tenants = tenants_from_spec(spec.get("tenants"))
        interval = float(autoscaling.get("pollingIntervalSeconds", DEFAULT_POLLING_INTERVAL_S))
        timeout = float(engine.get("timeoutSeconds", 5.0))
    except (TenantSpecError, TypeError, ValueError) as exc:
        raise SpecError(str(exc)) from exc
    if interval <= 0:
        raise SpecError("spec.autoscaling.pollingIntervalSeconds must be > 0")
    if timeout <= 0:
        raise SpecError("spec.engine.timeoutSeconds must be > 0")
    return TaskQueueSpec(
        worker=str(worker),
        engine=EngineRef(
            url=url.rstrip("/"),
            secret_name=str(secret["name"]),
            secret_key=str(secret.get("key") or "admin-key"),
            timeout_s=timeout,
        ),
        autoscaling_enabled=bool(autoscaling.get("enabled", True)),
        polling_interval_s=interval,
        policy=policy_from_spec(autoscaling),
        tenants=tenants,
    )
