"""Helpers shared by the chart tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "skiplock"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
HELM = ROOT / "tools" / "bin" / "helm"
RELEASE = "rel"
NAMESPACE = "jobs"

Manifest = dict[str, Any]


class RenderError(Exception):
    """helm template refused the values."""


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/helm-cache",
        "HELM_CONFIG_HOME": "/tmp/helm-config",
    }
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def parse_manifests(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(manifests: Sequence[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(manifests: Sequence[Manifest], kind: str, name: str) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load((CHART / "crds" / "taskqueues.skiplock.dev.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def workloads(manifests: Sequence[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")]


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    """The pod spec of a workload, a Job or a bare Pod (the helm test hook)."""
    if manifest["kind"] == "Pod":
        spec: dict[str, Any] = manifest["spec"]
        return spec
    template: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return template


def pods(manifests: Sequence[Manifest]) -> list[Manifest]:
    """Everything that runs a pod: workloads, Jobs (hooks included) and bare Pods."""
    return [m for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "Job", "Pod")]


def containers(workload: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}
