"""One reconcile pass for one TaskQueue: read, decide (pure modules), act, report.

Order matters: tenants are applied before the stats are read, so a tenant paused in this
very pass no longer asks for workers; the replica change is applied before the status is
written, so the status never claims a change that failed.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine_operator import metrics
from engine_operator.conditions import Observed, build_conditions, merge_conditions
from engine_operator.engine_client import EngineClient, EngineError
from engine_operator.kube import Kube, KubeError
from engine_operator.ownership import Ownership, decide_ownership
from engine_operator.scaling import (
    Decision,
    ScalerMemory,
    SpecError,
    decide,
    record_scale,
)
from engine_operator.spec import DEFAULT_POLLING_INTERVAL_S, EngineRef, TaskQueueSpec, parse_spec
from engine_operator.status import build_status_patch, history_from_status
from engine_operator.tenants import (
    EngineTenant,
    QueueStats,
    TenantState,
    TenantStatus,
    plan_changes,
    tenant_statuses,
)

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    """Kubernetes events on the TaskQueue (kopf.info / kopf.warn in production)."""

    def __call__(self, *, warning: bool, reason: str, message: str) -> None: ...


EngineFactory = Callable[[EngineRef, str], EngineClient]


def default_engine_factory(ref: EngineRef, admin_key: str) -> EngineClient:
    return EngineClient(ref.url, admin_key, timeout_s=ref.timeout_s)


@dataclass
class QueueRuntime:
    """State of one TaskQueue between passes. The scaling memory is also written to
    ``status.scalingHistory`` and read back on the first pass, so a restarted operator
    keeps honouring the stabilisation windows (the HPA forgets them)."""

    memory: ScalerMemory = field(default_factory=ScalerMemory)
    engine: EngineClient | None = None
    engine_identity: tuple[str, str, float] | None = None
    last_scale_at: datetime.datetime | None = None
    last_warning: str | None = None
    seeded: bool = False

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.close()
        self.engine = None
        self.engine_identity = None


@dataclass(frozen=True)
class _Scaled:
    deployment: dict[str, Any] | None
    current: int | None
    error: str | None
    ownership: Ownership | None
    decision: Decision | None


@dataclass(frozen=True)
class PassResult:
    interval_s: float
    desired: int | None
    current: int | None


class Reconciler:
    def __init__(
        self,
        *,
        kube: Kube,
        events: EventSink,
        clock: Callable[[], datetime.datetime] | None = None,
        engine_factory: EngineFactory = default_engine_factory,
    ) -> None:
        self._kube = kube
        self._events = events
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._engine_factory = engine_factory

    async def run_once(
        self,
        *,
        namespace: str,
        name: str,
        generation: int | None,
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        runtime: QueueRuntime,
    ) -> PassResult:
        now = self._clock()
        label = f"{namespace}/{name}"
        if not runtime.seeded:
            runtime.memory = history_from_status(
                status, last_active_at=_parse_time(status.get("lastActiveTime"))
            )
            runtime.last_scale_at = _parse_time_dt(status.get("lastScaleTime"))
            runtime.seeded = True
        try:
            parsed = parse_spec(spec)
        except SpecError as exc:
            self._warn_once(runtime, "InvalidSpec", str(exc))
            observed = Observed(spec_error=str(exc))
            await self._write_status(namespace, name, generation, status, observed, now=now)
            return PassResult(DEFAULT_POLLING_INTERVAL_S, None, None)

        engine, engine_error = await self._engine(namespace, parsed.engine, runtime)
        engine_tenants: dict[str, EngineTenant] = {}
        tenant_error: str | None = None
        if engine is not None and parsed.tenants:
            engine_tenants, tenant_error = await self._apply_tenants(engine, parsed)

        stats: QueueStats | None = None
        stats_error = engine_error
        if engine is not None:
            try:
                stats = await engine.queue_stats()
            except EngineError as exc:
                stats_error = str(exc)
        if stats is None:
            metrics.STATS_ERRORS.labels(label).inc()

        scaled = await self._autoscale(namespace, label, parsed, stats, runtime, now)
        deployment, current, kube_error = scaled.deployment, scaled.current, scaled.error
        ownership, decision = scaled.ownership, scaled.decision

        statuses = tenant_statuses(parsed.tenants, engine=engine_tenants, stats=stats)
        draining = {
            n: statuses[n] for n, t in parsed.tenants.items() if t.state is TenantState.DRAINING
        }
        problem = stats_error or tenant_error or kube_error
        if problem:
            self._warn_once(runtime, "ReconcileFailed", problem)
        else:
            runtime.last_warning = None
        observed = Observed(
            worker_missing=deployment is None and kube_error is None,
            stats_error=stats_error,
            tenant_error=tenant_error or kube_error,
            ownership=ownership,
            decision=decision,
            draining=draining,
        )
        last_active = runtime.memory.last_active_at
        await self._write_status(
            namespace,
            name,
            generation,
            status,
            observed,
            now=now,
            stats=stats,
            current=current,
            tenants=statuses,
            last_active_at=None if last_active is None else _from_ts(last_active),
            last_scale_at=runtime.last_scale_at,
            history=runtime.memory if decision is not None else None,
        )
        return PassResult(
            parsed.polling_interval_s, None if decision is None else decision.desired, current
        )

    # --- steps ---------------------------------------------------------------------------

    async def _autoscale(
        self,
        namespace: str,
        label: str,
        parsed: TaskQueueSpec,
        stats: QueueStats | None,
        runtime: QueueRuntime,
        now: datetime.datetime,
    ) -> _Scaled:
        """Decide the worker count and, when the operator owns replicas, apply it."""
        deployment, error = await self._read_worker(namespace, parsed)
        if deployment is None:
            return _Scaled(None, None, error, None, None)
        current = _replicas(deployment)
        ownership = await self._ownership(namespace, parsed, deployment)
        decision = decide(
            parsed.policy,
            current=current,
            load=stats.load() if stats is not None else None,
            memory=runtime.memory,
            now=now.timestamp(),
        )
        runtime.memory = decision.memory
        if ownership.patches_replicas and decision.desired != current:
            error = await self._scale(
                namespace=namespace,
                parsed=parsed,
                current=current,
                decision=decision,
                runtime=runtime,
                now=now,
                taskqueue=label,
            )
            if error is None:
                current = decision.desired
        metrics.DESIRED_REPLICAS.labels(label).set(decision.desired)
        metrics.CURRENT_REPLICAS.labels(label).set(current)
        return _Scaled(deployment, current, error, ownership, decision)

    async def _engine(
        self, namespace: str, ref: EngineRef, runtime: QueueRuntime
    ) -> tuple[EngineClient | None, str | None]:
        try:
            key = await self._kube.read_secret_value(namespace, ref.secret_name, ref.secret_key)
        except KubeError as exc:
            return None, f"admin key: {exc}"
        identity = (ref.url, key, ref.timeout_s)
        if runtime.engine is None or runtime.engine_identity != identity:
            await runtime.close()
            runtime.engine = self._engine_factory(ref, key)
            runtime.engine_identity = identity
        return runtime.engine, None

    async def _apply_tenants(
        self, engine: EngineClient, parsed: TaskQueueSpec
    ) -> tuple[dict[str, EngineTenant], str | None]:
        try:
            actual = await engine.list_tenants()
            changes = plan_changes(parsed.tenants, actual)
            for change in changes:
                await engine.apply(change)
                logger.info("%s", change.describe())
                self._events(warning=False, reason="TenantUpdated", message=change.describe())
            if changes:
                actual = await engine.list_tenants()
        except EngineError as exc:
            return {}, f"tenants: {exc}"
        return actual, None

    async def _read_worker(
        self, namespace: str, parsed: TaskQueueSpec
    ) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return await self._kube.read_deployment(namespace, parsed.worker), None
        except KubeError as exc:
            return None, f"worker Deployment: {exc}"

    async def _ownership(
        self, namespace: str, parsed: TaskQueueSpec, deployment: Mapping[str, Any]
    ) -> Ownership:
        hpas: list[dict[str, Any]] = []
        scaled_objects: list[dict[str, Any]] = []
        unknown: str | None = None
        try:
            hpas = await self._kube.list_hpas(namespace)
            scaled_objects = await self._kube.list_scaled_objects(namespace)
        except KubeError as exc:
            logger.warning("cannot list autoscalers in %s: %s", namespace, exc)
            unknown = str(exc)
        annotations = (deployment.get("metadata") or {}).get("annotations") or {}
        return decide_ownership(
            enabled=parsed.autoscaling_enabled,
            deployment=parsed.worker,
            deployment_annotations=annotations,
            hpas=hpas,
            scaled_objects=scaled_objects,
            unknown=unknown,
        )

    async def _scale(
        self,
        *,
        namespace: str,
        parsed: TaskQueueSpec,
        current: int,
        decision: Decision,
        runtime: QueueRuntime,
        now: datetime.datetime,
        taskqueue: str,
    ) -> str | None:
        try:
            await self._kube.scale_deployment(namespace, parsed.worker, decision.desired)
        except KubeError as exc:
            return f"scaling Deployment {parsed.worker}: {exc}"
        runtime.memory = record_scale(
            runtime.memory, at=now.timestamp(), from_replicas=current, to_replicas=decision.desired
        )
        runtime.last_scale_at = now
        up = decision.desired > current
        metrics.SCALE_EVENTS.labels(taskqueue, "up" if up else "down").inc()
        message = (
            f"Deployment {parsed.worker}: {current} -> {decision.desired} replicas; "
            f"{decision.message}"
        )
        logger.info("%s", message)
        self._events(warning=False, reason="ScaledUp" if up else "ScaledDown", message=message)
        return None

    async def _write_status(
        self,
        namespace: str,
        name: str,
        generation: int | None,
        status: Mapping[str, Any],
        observed: Observed,
        *,
        now: datetime.datetime,
        stats: QueueStats | None = None,
        current: int | None = None,
        tenants: Mapping[str, TenantStatus] | None = None,
        last_active_at: datetime.datetime | None = None,
        last_scale_at: datetime.datetime | None = None,
        history: ScalerMemory | None = None,
    ) -> None:
        fresh = build_conditions(observed, generation=generation, now=now)
        conditions = merge_conditions(status.get("conditions") or [], fresh)
        patch = build_status_patch(
            previous=status,
            generation=generation,
            stats=stats,
            current_replicas=current,
            decision=observed.decision,
            ownership=observed.ownership,
            tenants=tenants or {},
            conditions=conditions,
            last_active_at=last_active_at,
            last_scale_at=last_scale_at,
            history=history,
        )
        try:
            await self._kube.patch_taskqueue_status(namespace, name, patch)
        except KubeError as exc:
            logger.warning("cannot write status of TaskQueue %s/%s: %s", namespace, name, exc)

    def _warn_once(self, runtime: QueueRuntime, reason: str, message: str) -> None:
        """One warning event per distinct problem, not one per poll."""
        logger.warning("%s", message)
        if runtime.last_warning != message:
            runtime.last_warning = message
            self._events(warning=True, reason=reason, message=message)


def _replicas(deployment: Mapping[str, Any]) -> int:
    # A Deployment without spec.replicas runs 1 (the API server's default).
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _parse_time_dt(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _parse_time(value: Any) -> float | None:
    parsed = _parse_time_dt(value)
    return None if parsed is None else parsed.timestamp()


def _from_ts(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
