"""What Helm does with a chart, as far as the end-to-end suite needs it: render it, split
hooks from release objects, and order objects the way Helm installs and uninstalls them.

The kind orders are Helm's own (``InstallOrder`` and ``UninstallOrder`` in
helm/helm ``pkg/release/v1/util/kind_sorter.go``); kinds it does not know, such as custom
resources, sort after every known kind in both directions, alphabetically among
themselves. That is why ``helm uninstall`` deletes a TaskQueue only after the operator's
Deployment, Role and RoleBinding: a finalizer that only the operator removes outlives it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.chart.chartlib import CHART, HELM, run_helm

Manifest = dict[str, Any]

INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]  # fmt: skip
UNINSTALL_ORDER = [
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService", "Ingress",
    "IngressClass", "Service", "CronJob", "Job", "StatefulSet", "HorizontalPodAutoscaler",
    "Deployment", "ReplicaSet", "ReplicationController", "Pod", "DaemonSet", "RoleBindingList",
    "RoleBinding", "RoleList", "Role", "ClusterRoleBindingList", "ClusterRoleBinding",
    "ClusterRoleList", "ClusterRole", "CustomResourceDefinition", "PersistentVolumeClaim",
    "PersistentVolume", "StorageClass", "ConfigMap", "SecretList", "Secret", "ServiceAccount",
    "PodDisruptionBudget", "PodSecurityPolicy", "LimitRange", "ResourceQuota", "NetworkPolicy",
    "Namespace", "PriorityClass",
]  # fmt: skip

HOOK = "helm.sh/hook"
KEEP = "helm.sh/resource-policy"


def sort_by_kind(manifests: Sequence[Manifest], order: Sequence[str]) -> list[Manifest]:
    """Helm's ``sortManifestsByKind``: stable, known kinds by ``order``, unknown kinds
    last and alphabetically."""
    rank = {kind: i for i, kind in enumerate(order)}

    def key(m: Manifest) -> tuple[int, int, str]:
        kind = str(m["kind"])
        return (0, rank[kind], "") if kind in rank else (1, 0, kind)

    return sorted(manifests, key=key)


@dataclass
class Release:
    """A rendered release: CRDs (from ``crds/``), the objects Helm tracks, and hooks by
    the phase they run in."""

    crds: list[Manifest]
    objects: list[Manifest]
    hooks: dict[str, list[Manifest]] = field(default_factory=dict)

    def hooks_for(self, phase: str) -> list[Manifest]:
        """Hooks of a phase in Helm's order: weight, then kind, then name."""
        found = self.hooks.get(phase, [])
        by_kind = sort_by_kind(found, INSTALL_ORDER)
        return sorted(
            by_kind,
            key=lambda m: (
                int(m["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0")),
            ),
        )

    def uninstall_order(self) -> list[Manifest]:
        """What ``helm uninstall`` deletes, in its order; kept objects are left."""
        deletable = [
            m for m in self.objects if m["metadata"].get("annotations", {}).get(KEEP) != "keep"
        ]
        return sort_by_kind(deletable, UNINSTALL_ORDER)

    def kept(self) -> list[Manifest]:
        return [m for m in self.objects if m["metadata"].get("annotations", {}).get(KEEP) == "keep"]


def render(
    *,
    release: str,
    namespace: str,
    values: Sequence[Path] = (),
    sets: Sequence[str] = (),
    helm: Path = HELM,
) -> Release:
    """``helm template --include-crds`` with these values, split as Helm would apply it."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    for path in values:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    done = run_helm(helm, *args)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    result = Release(crds=[], objects=[])
    for doc in docs:
        hook = doc["metadata"].get("annotations", {}).get(HOOK)
        if doc["kind"] == "CustomResourceDefinition":
            result.crds.append(doc)
        elif hook:
            for phase in hook.split(","):
                result.hooks.setdefault(phase.strip(), []).append(doc)
        else:
            result.objects.append(doc)
    result.objects = sort_by_kind(result.objects, INSTALL_ORDER)
    return result
