"""Who owns the worker Deployment's spec.replicas: pure.

Two controllers writing the same field fight: each undoes the other on every sync. So the
operator patches replicas only when nothing else claims them, and otherwise just reports.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DISABLE_ANNOTATION = "skiplock.dev/autoscaling"
DISABLE_VALUE = "disabled"


class Mode(enum.StrEnum):
    OPERATOR = "Operator"
    EXTERNAL = "External"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class Ownership:
    mode: Mode
    reason: str
    message: str

    @property
    def patches_replicas(self) -> bool:
        return self.mode is Mode.OPERATOR


def targets_deployment(scale_target_ref: Mapping[str, Any] | None, deployment: str) -> bool:
    """Whether an HPA's or ScaledObject's scaleTargetRef points at this Deployment. KEDA
    defaults the kind to Deployment; an HPA always names it."""
    if not scale_target_ref:
        return False
    kind = scale_target_ref.get("kind") or "Deployment"
    api_version = str(scale_target_ref.get("apiVersion") or "apps/v1")
    return (
        kind == "Deployment"
        and api_version.startswith("apps/")
        and scale_target_ref.get("name") == deployment
    )


def decide_ownership(
    *,
    enabled: bool,
    deployment: str,
    deployment_annotations: Mapping[str, str],
    hpas: Iterable[Mapping[str, Any]],
    scaled_objects: Iterable[Mapping[str, Any]],
    unknown: str | None = None,
) -> Ownership:
    """``hpas`` and ``scaled_objects`` are the objects (as dicts) in the Deployment's
    namespace; ``unknown`` says why they could not be listed. A KEDA ScaledObject also
    creates an HPA; either one is enough to back off."""
    if not enabled:
        return Ownership(Mode.DISABLED, "AutoscalingDisabled", "spec.autoscaling.enabled is false")
    if deployment_annotations.get(DISABLE_ANNOTATION) == DISABLE_VALUE:
        return Ownership(
            Mode.DISABLED,
            "AutoscalingDisabled",
            f"Deployment {deployment} is annotated {DISABLE_ANNOTATION}={DISABLE_VALUE}",
        )
    if unknown is not None:
        # Not knowing is no permission to fight: report only until we can tell.
        return Ownership(Mode.EXTERNAL, "AutoscalersUnknown", f"cannot list autoscalers: {unknown}")
    for obj in scaled_objects:
        if targets_deployment(obj.get("spec", {}).get("scaleTargetRef"), deployment):
            name = obj.get("metadata", {}).get("name", "?")
            return Ownership(
                Mode.EXTERNAL,
                "ExternalAutoscaler",
                f"KEDA ScaledObject {name} scales Deployment {deployment}; only reporting",
            )
    for obj in hpas:
        if targets_deployment(obj.get("spec", {}).get("scaleTargetRef"), deployment):
            name = obj.get("metadata", {}).get("name", "?")
            return Ownership(
                Mode.EXTERNAL,
                "ExternalAutoscaler",
                f"HorizontalPodAutoscaler {name} scales Deployment {deployment}; only reporting",
            )
    return Ownership(Mode.OPERATOR, "OperatorOwnsReplicas", "the operator scales the workers")
