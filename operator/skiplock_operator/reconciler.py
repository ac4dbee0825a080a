"""One reconcile pass for one TaskQueue: check, read, decide (pure modules), act, report.

Order matters:

1. Whatever makes the TaskQueue itself wrong is found before anything is changed or any
   key is sent: the spec, the engine URL (it must be on the operator's allow-list), the
   worker Deployment, and (reading with the reader key) that every tenant it names
   exists. Such a pass writes conditions naming the problem and stops.
2. Tenants are applied (admin key) before the stats are read, so a tenant paused in this
   very pass no longer asks for workers; tenants an earlier TaskQueue claims are left to
   it, both for settings and for depth.
3. The scaling step marks idle worker pods as the cheapest to delete before it lowers
   replicas, and applies the change before the status is written, so the status never
   claims a change that failed.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from skiplock_operator import metrics
from skiplock_operator.access import AccessError, Clients
from skiplock_operator.autoscale import Autoscaler, Scaled, replicas_of
from skiplock_operator.claims import claim_of, conflicts
from skiplock_operator.conditions import (
    Observed,
    Problem,
    build_conditions,
    conflict_message,
    merge_conditions,
)
from skiplock_operator.config import EngineNotAllowed, OperatorConfig
from skiplock_operator.engine_client import EngineClient, EngineError
from skiplock_operator.kube import Kube, KubeError
from skiplock_operator.runtime import EventSink, QueueRuntime, Warnings
from skiplock_operator.scaling import ScalerMemory, SpecError
from skiplock_operator.schedule_sync import ScheduleResult, sync_schedules, wants_schedules
from skiplock_operator.schedules import ScheduleStatus
from skiplock_operator.spec import TaskQueueSpec, parse_spec, polling_interval_of
from skiplock_operator.status import build_status_patch, memory_from_status
from skiplock_operator.tenants import (
    EngineTenant,
    QueueStats,
    TenantSpec,
    TenantState,
    missing_tenants,
    plan_changes,
    tenant_statuses,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassResult:
    interval_s: float
    desired: int | None
    current: int | None
    gone: bool = False  # the TaskQueue no longer exists: its daemon should end


@dataclass(frozen=True)
class _Claims:
    conflicts: dict[str, str] | None  # None: could not be checked
    error: str | None
    gone: bool


@dataclass
class _Engine:
    """What the engine told this pass (every field stays empty when it was unreachable)."""

    clients: Clients | None = None
    tenants: Mapping[str, EngineTenant] | None = None
    stats: QueueStats | None = None
    stats_error: str | None = None
    tenant_error: str | None = None


class Reconciler:
    def __init__(
        self,
        *,
        kube: Kube,
        events: EventSink,
        config: OperatorConfig,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self._kube = kube
        self._events = events
        self._config = config
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._autoscaler = Autoscaler(kube=kube, events=events)

    async def run_once(
        self,
        *,
        namespace: str,
        name: str,
        uid: str | None,
        generation: int | None,
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        runtime: QueueRuntime,
    ) -> PassResult:
        now = self._clock()
        label = f"{namespace}/{name}"
        warn = Warnings(runtime, self._events)
        if not runtime.seeded:
            runtime.memory, runtime.last_scale_at = memory_from_status(status)
            runtime.seeded = True

        def stop(problem: Problem, interval: float, *, gone: bool) -> PassResult:
            warn(problem.reason, problem.message)
            warn.end_pass()
            return PassResult(interval, None, None, gone=gone)

        try:
            parsed = parse_spec(spec, namespace=namespace, name=name)
        except SpecError as exc:
            problem = Problem("InvalidSpec", str(exc))
            gone = await self._write_status(
                namespace, name, generation, status, Observed(problem), now
            )
            return stop(problem, polling_interval_of(spec), gone=gone)
        interval = parsed.polling_interval_s
        try:
            url = self._config.resolve_engine(parsed.engine.url)
        except EngineNotAllowed as exc:
            problem = Problem("EngineNotAllowed", str(exc))
            gone = await self._write_status(
                namespace, name, generation, status, Observed(problem), now
            )
            return stop(problem, interval, gone=gone)
        claims = await self._claims(namespace, name, uid, parsed, url)
        if claims.gone:
            return PassResult(interval, None, None, gone=True)
        deployment, worker_error = await self._read_worker(namespace, parsed)
        if deployment is None:
            problem = Problem("WorkerDeploymentMissing", worker_error)
            observed = Observed(problem, conflicts=claims.conflicts)
            gone = await self._write_status(namespace, name, generation, status, observed, now)
            return stop(problem, interval, gone=gone)
        current = replicas_of(deployment)

        # Ours: every tenant no earlier TaskQueue claims. While the claims cannot be
        # checked, scale on all of them but apply none (applying could start a tug of war).
        owned = {n: t for n, t in parsed.tenants.items() if n not in (claims.conflicts or {})}
        to_apply = owned if claims.conflicts is not None else {}
        engine = await self._engine(
            namespace,
            parsed,
            url,
            owned,
            to_apply,
            runtime,
            admin_for_schedules=wants_schedules(parsed.schedules, status),
        )
        missing = missing_tenants(parsed.tenants, engine.tenants or {})
        if engine.tenants is not None and missing:
            problem = Problem(
                "TenantNotFound",
                "the engine has no tenant " + ", ".join(missing) + "; create it "
                "(skiplock tenant create, POST /api/tenants) or remove it from spec.tenants",
            )
            observed = Observed(problem, conflicts=claims.conflicts)
            statuses = tenant_statuses(parsed.tenants, engine=engine.tenants, stats=None)
            gone = await self._write_status(
                namespace,
                name,
                generation,
                status,
                observed,
                now,
                current=current,
                tenants=statuses,
            )
            return stop(problem, interval, gone=gone)
        if engine.stats is None:
            metrics.STATS_ERRORS.labels(label).inc()

        scaled = await self._autoscaler.run(
            namespace=namespace,
            label=label,
            parsed=parsed,
            deployment=deployment,
            stats=engine.stats,
            reader=engine.clients.reader if engine.clients else None,
            runtime=runtime,
            now=now,
            warn=warn,
        )
        schedules = (
            await sync_schedules(
                engine.clients,
                namespace=namespace,
                taskqueue=name,
                desired=parsed.schedules,
                events=self._events,
            )
            if engine.clients is not None and wants_schedules(parsed.schedules, status)
            else ScheduleResult()
        )
        observed = self._observed(parsed, owned, claims, engine, scaled, schedules.error)
        for reason, problem_text in (
            ("ReconcileFailed", engine.stats_error),
            ("ReconcileFailed", engine.tenant_error or claims.error),
            ("ReconcileFailed", scaled.error),
            ("ScheduleSyncFailed", schedules.error),
        ):
            if problem_text:
                warn(reason, problem_text)
        if claims.conflicts:
            warn("TenantConflict", conflict_message(claims.conflicts))
        warn.end_pass()
        last_active = runtime.memory.last_active_at
        gone = await self._write_status(
            namespace,
            name,
            generation,
            status,
            observed,
            now,
            stats=engine.stats,
            current=scaled.current,
            tenants=tenant_statuses(
                parsed.tenants, engine=engine.tenants or {}, stats=engine.stats
            ),
            last_active_at=None
            if last_active is None
            else datetime.datetime.fromtimestamp(last_active, tz=datetime.UTC),
            last_scale_at=runtime.last_scale_at,
            history=runtime.memory,
            schedules=schedules.statuses,
        )
        return PassResult(interval, scaled.decision.desired, scaled.current, gone=gone)

    # --- steps ---------------------------------------------------------------------------

    async def _claims(
        self, namespace: str, name: str, uid: str | None, parsed: TaskQueueSpec, url: str
    ) -> _Claims:
        """Other TaskQueues' claims on our tenants, and whether we still exist (a daemon
        may outlive its object: there is no finalizer to hold deletion back for it)."""
        watched = self._config.watch_namespaces
        try:
            objects = await self._kube.list_taskqueues(
                sorted({*watched, namespace}) if watched else []
            )
        except KubeError as exc:
            if watched or exc.status != 403:
                return _Claims(None, f"cannot list TaskQueues to check tenant claims: {exc}", False)
            try:  # a namespaced Role cannot list cluster-wide: our namespace is what we can see
                objects = await self._kube.list_taskqueues([namespace])
            except KubeError as again:
                return _Claims(
                    None, f"cannot list TaskQueues to check tenant claims: {again}", False
                )
        mine_listed = any(
            (o.get("metadata") or {}).get("uid") == uid
            if uid
            else (o.get("metadata") or {}).get("name") == name
            for o in objects
            if (o.get("metadata") or {}).get("namespace", namespace) == namespace
        )
        if not mine_listed:
            return _Claims({}, None, True)
        claims = [c for c in (claim_of(o, self._engine_identity) for o in objects) if c is not None]
        mine = next((c for c in claims if c.namespace == namespace and c.name == name), None)
        if mine is None or not parsed.tenants:
            return _Claims({}, None, False)
        return _Claims(conflicts(mine, claims), None, False)

    def _engine_identity(self, url: str | None) -> str | None:
        try:
            return self._config.canonical(self._config.resolve_engine(url))
        except EngineNotAllowed:
            return None  # a TaskQueue the operator will not serve claims nothing

    async def _read_worker(
        self, namespace: str, parsed: TaskQueueSpec
    ) -> tuple[dict[str, Any] | None, str]:
        try:
            found = await self._kube.read_deployment(namespace, parsed.worker)
        except KubeError as exc:
            return None, f"cannot read the worker Deployment {namespace}/{parsed.worker}: {exc}"
        return found, f"the worker Deployment {namespace}/{parsed.worker} does not exist"

    async def _engine(
        self,
        namespace: str,
        parsed: TaskQueueSpec,
        url: str,
        owned: Mapping[str, TenantSpec],
        to_apply: Mapping[str, TenantSpec],
        runtime: QueueRuntime,
        *,
        admin_for_schedules: bool,
    ) -> _Engine:
        """Keys, the tenant list, the tenant changes and the stats, in that order; the
        first failure leaves the rest empty, and the scaling step falls back."""
        result = _Engine()
        try:
            result.clients = await runtime.access.clients(
                self._kube,
                namespace=namespace,
                secret=parsed.engine.secret_name,
                url=url,
                timeout_s=parsed.engine.timeout_s,
                need_admin=bool(to_apply) or admin_for_schedules,
            )
        except AccessError as exc:
            result.stats_error = str(exc)
            return result
        reader = result.clients.reader
        try:
            if parsed.tenants:
                result.tenants = await reader.list_tenants()
                if missing_tenants(parsed.tenants, result.tenants):
                    return result  # the caller reports it; nothing is changed
            if to_apply:
                result.tenant_error, result.tenants = await self._apply_tenants(
                    result.clients.admin, reader, to_apply, result.tenants or {}
                )
            scope = sorted(owned) if parsed.tenants else None
            result.stats = await reader.queue_stats(scope)
        except EngineError as exc:
            result.stats_error = str(exc)
        return result

    async def _apply_tenants(
        self,
        admin: EngineClient | None,
        reader: EngineClient,
        owned: Mapping[str, TenantSpec],
        actual: Mapping[str, EngineTenant],
    ) -> tuple[str | None, Mapping[str, EngineTenant]]:
        changes = plan_changes(owned, actual)
        if not changes:
            return None, actual
        if admin is None:
            return "the Secret has no 'admin-key': tenant settings cannot be applied", actual
        try:
            for change in changes:
                await admin.apply(change)
                logger.info("%s", change.describe())
                self._events(warning=False, reason="TenantUpdated", message=change.describe())
        except EngineError as exc:
            return f"tenants: {exc}", actual
        return None, await reader.list_tenants()

    def _observed(
        self,
        parsed: TaskQueueSpec,
        owned: Mapping[str, TenantSpec],
        claims: _Claims,
        engine: _Engine,
        scaled: Scaled,
        schedule_error: str | None,
    ) -> Observed:
        statuses = tenant_statuses(owned, engine=engine.tenants or {}, stats=engine.stats)
        draining = {n: statuses[n] for n, t in owned.items() if t.state is TenantState.DRAINING}
        return Observed(
            stats_error=engine.stats_error,
            tenant_error=engine.tenant_error or claims.error or scaled.error,
            schedule_error=schedule_error,
            conflicts=claims.conflicts,
            ownership=scaled.ownership,
            decision=scaled.decision,
            draining=draining,
        )

    async def _write_status(
        self,
        namespace: str,
        name: str,
        generation: int | None,
        status: Mapping[str, Any],
        observed: Observed,
        now: datetime.datetime,
        *,
        stats: QueueStats | None = None,
        current: int | None = None,
        tenants: Mapping[str, Any] | None = None,
        last_active_at: datetime.datetime | None = None,
        last_scale_at: datetime.datetime | None = None,
        history: ScalerMemory | None = None,
        schedules: Mapping[str, ScheduleStatus] | None = None,
    ) -> bool:
        """Patch the status; True when the TaskQueue turned out to be gone (404)."""
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
            schedules=schedules,
        )
        try:
            await self._kube.patch_taskqueue_status(namespace, name, patch)
        except KubeError as exc:
            if exc.status == 404:
                return True
            logger.warning("cannot write status of TaskQueue %s/%s: %s", namespace, name, exc)
        return False
