"""Every SKIPLOCK_* variable the chart hands an engine container is a setting the engine
reads. The variable names are a public interface (DESIGN.md lists them): a setting
renamed or dropped in the engine, or misspelled in a template, fails here instead of
being silently ignored in a cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skiplock.settings import Settings, ShellSettings
from tests.chart.chartlib import CI_VALUES, Manifest

Render = Callable[..., list[Manifest]]
ENGINE_SETTINGS = {f"SKIPLOCK_{name.upper()}" for name in Settings.model_fields} | {
    f"SKIPLOCK_{name.upper()}" for name in ShellSettings.model_fields
}


def _pod_specs(manifests: list[Manifest]) -> Iterator[dict[str, Any]]:
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield m["spec"]["template"]["spec"]
        elif m["kind"] == "Pod":
            yield m["spec"]


def engine_variables(manifests: list[Manifest]) -> dict[str, set[str]]:
    """SKIPLOCK_* names per engine container (env and the ConfigMaps it loads)."""
    config_maps = {
        m["metadata"]["name"]: set(m.get("data") or {})
        for m in manifests
        if m["kind"] == "ConfigMap"
    }
    found: dict[str, set[str]] = {}
    for spec in _pod_specs(manifests):
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            names = {e["name"] for e in c.get("env") or []}
            for source in c.get("envFrom") or []:
                ref = source.get("configMapRef")
                if ref is not None:
                    names |= config_maps.get(ref["name"], set())
            ours = {n for n in names if n.startswith("SKIPLOCK_")}
            # The operator has settings of its own (skiplock_operator/config.py).
            if ours and not all(n.startswith("SKIPLOCK_OPERATOR_") for n in ours):
                found[c["name"]] = ours
    return found


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_variable_the_chart_renders_is_an_engine_setting(
    render: Render, values: Path
) -> None:
    rendered = engine_variables(render(values))
    assert rendered, "no engine container found"
    unknown = {c: sorted(names - ENGINE_SETTINGS) for c, names in rendered.items()}
    assert {c: n for c, n in unknown.items() if n} == {}


def test_a_misspelled_variable_is_caught(render: Render) -> None:
    manifests = render(None, sets=["config.extraEnv.SKIPLOCK_LEASE_SECONDS=5"])
    rendered = engine_variables(manifests)
    assert any("SKIPLOCK_LEASE_SECONDS" in names - ENGINE_SETTINGS for names in rendered.values())
