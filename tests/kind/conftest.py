"""The kind suite needs a real cluster (and the image loaded into it). Without a reachable
cluster every test here is skipped with the reason, the only skip the project allows."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str | None:
    local = ROOT / "tools" / "bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def cluster_problem() -> str | None:
    """Why the suite cannot run, or None when a cluster answers."""
    kubectl, helm = tool("kubectl"), tool("helm")
    if kubectl is None or helm is None:
        return "kubectl or helm not found (run `make helm-tools`)"
    try:
        result = subprocess.run(
            [kubectl, "version", "--request-timeout=5s", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"kubectl failed: {exc}"
    if result.returncode != 0 or '"serverVersion"' not in result.stdout:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"no Kubernetes cluster reachable (kubectl version: {detail[0]})"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    if not ours:
        return
    problem = cluster_problem()
    for item in ours:
        item.add_marker(pytest.mark.kind)
        if problem is not None:
            item.add_marker(
                pytest.mark.skip(reason=f"kind suite: {problem}; start one with `make kind-up`")
            )


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = tool("kubectl")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def helm() -> str:
    found = tool("helm")
    assert found is not None
    return found
