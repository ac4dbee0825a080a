"""The scaling step of a pass: who owns replicas, the decision (pure, scaling.py), the
pod-deletion costs before a scale-down (pure, podcost.py), and the scale patch."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from skiplock_operator import metrics
from skiplock_operator.engine_client import EngineClient, EngineError
from skiplock_operator.kube import Kube, KubeError
from skiplock_operator.ownership import Ownership, decide_ownership
from skiplock_operator.podcost import POD_DELETION_COST, annotations_to_change, deletion_costs
from skiplock_operator.runtime import EventSink, QueueRuntime
from skiplock_operator.scaling import Decision, decide, record_scale
from skiplock_operator.spec import TaskQueueSpec
from skiplock_operator.tenants import QueueStats

logger = logging.getLogger(__name__)

Warn = Callable[[str, str], None]


@dataclass(frozen=True)
class Scaled:
    current: int
    error: str | None
    ownership: Ownership
    decision: Decision


def replicas_of(deployment: Mapping[str, Any]) -> int:
    # A Deployment without spec.replicas runs 1 (the API server's default).
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


class Autoscaler:
    def __init__(self, *, kube: Kube, events: EventSink) -> None:
        self._kube = kube
        self._events = events

    async def run(
        self,
        *,
        namespace: str,
        label: str,
        parsed: TaskQueueSpec,
        deployment: Mapping[str, Any],
        stats: QueueStats | None,
        reader: EngineClient | None,
        runtime: QueueRuntime,
        now: datetime.datetime,
        warn: Warn,
    ) -> Scaled:
        """Decide the worker count and, when the operator owns replicas, apply it."""
        current = replicas_of(deployment)
        ownership = await self._ownership(namespace, parsed, deployment)
        decision = decide(
            parsed.policy,
            current=current,
            load=stats.load() if stats is not None else None,
            memory=runtime.memory,
            now=now.timestamp(),
        )
        runtime.memory = decision.memory
        error = None
        if ownership.patches_replicas and decision.desired != current:
            if decision.desired < current:
                problem = await self._mark_idle_pods(namespace, deployment, reader)
                if problem:
                    warn("PodDeletionCostNotSet", problem)
            error = await self._scale(namespace, parsed, current, decision, runtime, now, label)
            if error is None:
                current = decision.desired
        metrics.DESIRED_REPLICAS.labels(label).set(decision.desired)
        metrics.CURRENT_REPLICAS.labels(label).set(current)
        return Scaled(current, error, ownership, decision)

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

    async def _mark_idle_pods(
        self, namespace: str, deployment: Mapping[str, Any], reader: EngineClient | None
    ) -> str | None:
        """Set pod-deletion-cost on the worker pods from their busy slots. A failure is
        returned, not raised: the scale-down goes ahead (the ReplicaSet then picks by its
        other rules, and a removed worker still drains)."""
        if reader is None:
            return "no engine key to read /api/workers with"
        selector = (deployment.get("spec") or {}).get("selector") or {}
        try:
            instances = await reader.workers()
            pods = await self._kube.list_pods(namespace, selector.get("matchLabels") or {})
            costs = deletion_costs(pods, selector, instances)
            for pod, cost in sorted(annotations_to_change(pods, costs).items()):
                await self._kube.annotate_pod(namespace, pod, {POD_DELETION_COST: cost})
        except (EngineError, KubeError) as exc:
            return f"pod-deletion-cost not set before scaling down: {exc}"
        logger.info("pod-deletion-cost before scale-down: %s", costs)
        return None

    async def _scale(
        self,
        namespace: str,
        parsed: TaskQueueSpec,
        current: int,
        decision: Decision,
        runtime: QueueRuntime,
        now: datetime.datetime,
        label: str,
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
        metrics.SCALE_EVENTS.labels(label, "up" if up else "down").inc()
        message = (
            f"Deployment {parsed.worker}: {current} -> {decision.desired} replicas; "
            f"{decision.message}"
        )
        logger.info("%s", message)
        self._events(warning=False, reason="ScaledUp" if up else "ScaledDown", message=message)
        return None
