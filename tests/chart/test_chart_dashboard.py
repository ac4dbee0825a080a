"""The Grafana dashboard queries only metrics the engine and operator export, and has the
panels operators look for first."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.chart.chartlib import CHART

ENGINE_METRICS = {
    "skiplock_tasks_submitted_total",
    "skiplock_tasks_completed_total",
    "skiplock_task_run_seconds",
    "skiplock_task_queue_wait_seconds",
    "skiplock_queue_depth",
    "skiplock_queue_oldest_age_seconds",
    "skiplock_worker_slots",
    "skiplock_worker_busy_slots",
    "skiplock_rate_limited_total",
    "skiplock_lease_lost_total",
    "skiplock_rescued_total",
    "skiplock_retried_total",
    "skiplock_dead_lettered_total",
    "skiplock_schedule_fires_total",
    "skiplock_schedule_lag_seconds",
    "skiplock_schedule_skipped_ticks_total",
}
OPERATOR_METRICS = {
    "skiplock_operator_desired_replicas",
    "skiplock_operator_current_replicas",
    "skiplock_operator_scale_events_total",
    "skiplock_operator_stats_errors_total",
}
HISTOGRAMS = {
    "skiplock_task_run_seconds",
    "skiplock_task_queue_wait_seconds",
    "skiplock_schedule_lag_seconds",
}
METRIC = re.compile(r"\b(skiplock_[a-z0-9_]+)")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHART / "dashboards" / "skiplock.json").read_text())
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for panel in board["panels"]:
        result.append(panel)
        result.extend(panel.get("panels", []))
    return result


def exprs(board: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    queries += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return queries


def metric_base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
            return name.removesuffix(suffix)
    return name


def test_every_query_names_only_exported_metrics() -> None:
    allowed = ENGINE_METRICS | OPERATOR_METRICS
    used: set[str] = set()
    for expr in exprs(dashboard()):
        names = {metric_base(n) for n in METRIC.findall(expr)}
        assert names, f"query names no skiplock metric: {expr}"
        unknown = names - allowed
        assert not unknown, f"{sorted(unknown)} in {expr}"
        used |= names
    assert used == allowed, f"never charted: {sorted(allowed - used)}"


def test_histograms_are_read_through_their_buckets() -> None:
    for expr in exprs(dashboard()):
        for name in METRIC.findall(expr):
            if name in HISTOGRAMS:
                raise AssertionError(f"histogram {name} used without _bucket/_sum/_count: {expr}")


def test_the_dashboard_has_the_panels_people_look_for() -> None:
    titles = {p["title"] for p in panels(dashboard())}
    for wanted in (
        "Queue depth by tenant",
        "Submitted and completed",
        "Failure rate",
        "Run time percentiles",
        "Queue wait percentiles",
        "Worker slots",
        "Desired vs current replicas",
        "Rate-limited submissions",
    ):
        assert wanted in titles


def test_panels_use_the_datasource_variable_and_have_unique_ids() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["templating"]["list"][0]["type"] == "datasource"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"]
