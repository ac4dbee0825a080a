"""Which worker pods a scale-down should remove: pure.

The ReplicaSet controller deletes the pods with the lowest
``controller.kubernetes.io/pod-deletion-cost`` first (after unscheduled, pending and
unready ones). Before lowering replicas the operator sets that annotation on each worker
pod to the number of task slots busy in it, read from ``GET /api/workers``, so idle pods
go first and the busiest go last. A removed worker still drains on SIGTERM; the cost only
makes that drain rare.

A pod is matched to its engine instance by name: the chart sets SKIPLOCK_INSTANCE_ID to
the pod name (downward API), and each process start appends ``:<suffix>``, so an
instance id is ``<pod name>:<suffix>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


@dataclass(frozen=True)
class InstanceLoad:
    pod: str  # the instance id without its per-start suffix
    slots: int
    busy: int


def parse_workers(body: Mapping[str, Any]) -> list[InstanceLoad]:
    """``GET /api/workers`` reduced to busy slots per instance; raises KeyError, TypeError
    or ValueError on a body of another shape."""
    result = []
    for item in body["instances"]:
        pod, sep, _suffix = str(item["id"]).rpartition(":")
        result.append(
            InstanceLoad(
                pod=pod if sep else str(item["id"]),
                slots=int(item.get("slots") or 0),
                busy=int(item.get("busy") or 0),
            )
        )
    return result


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Deployment's ``spec.selector`` (matchLabels and matchExpressions) against a pod's
    labels, as the API server would match it."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def deletion_costs(
    pods: Iterable[Mapping[str, Any]],
    selector: Mapping[str, Any],
    instances: Iterable[InstanceLoad],
) -> dict[str, str]:
    """The annotation value each live pod of the Deployment should carry: its busy slots.
    A pod with no instance in the registry (starting, or its engine gone) runs nothing,
    so it costs 0 like an idle one. Should two incarnations of one pod both still be
    listed, the busier one counts."""
    busy: dict[str, int] = {}
    for instance in instances:
        busy[instance.pod] = max(busy.get(instance.pod, 0), instance.busy)
    costs = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or not selector_matches(
            selector, meta.get("labels") or {}
        ):
            continue
        name = str(meta.get("name"))
        costs[name] = str(busy.get(name, 0))
    return costs


def annotations_to_change(
    pods: Iterable[Mapping[str, Any]], costs: Mapping[str, str]
) -> dict[str, str]:
    """Only the pods whose annotation differs, so a steady queue patches nothing."""
    changes = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        name = str(meta.get("name"))
        if name in costs and (meta.get("annotations") or {}).get(POD_DELETION_COST) != costs[name]:
            changes[name] = costs[name]
    return changes
