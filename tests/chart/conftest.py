"""Chart test fixtures: the helm binary from tools/bin and cached renders per values file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.chart.chartlib import (
    CHART,
    HELM,
    NAMESPACE,
    RELEASE,
    Manifest,
    RenderError,
    parse_manifests,
    run_helm,
)


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary. Missing is a failure, never a skip: a chart suite that silently
    does nothing would let a broken chart through CI."""
    if not (HELM.is_file() and os.access(HELM, os.X_OK)):
        where = "in CI" if os.environ.get("CI") else "in this checkout"
        pytest.fail(
            f"{HELM} is missing {where}: run `make helm-tools` (tools/fetch-helm.sh) first",
            pytrace=False,
        )
    return HELM


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., list[Manifest]]:
    """render(values_file=None, sets=[...]) -> manifests, cached per argument list."""
    cache: dict[tuple[str, ...], list[Manifest]] = {}

    def _render(values: Path | None = None, sets: Sequence[str] = ()) -> list[Manifest]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        if values is not None:
            args += ["-f", str(values)]
        for item in sets:
            args += ["--set", item]
        key = tuple(args)
        if key not in cache:
            result = run_helm(helm, *args)
            if result.returncode != 0:
                raise RenderError(result.stderr)
            cache[key] = parse_manifests(result.stdout)
        return cache[key]

    return _render
