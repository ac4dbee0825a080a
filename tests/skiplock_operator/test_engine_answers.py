"""The operator parses the engine's answers as the engine declares them: sample bodies are
generated from the engine's response models (the ones ``/openapi.json`` publishes for
the routes the operator reads), every field with a value of its own, and the operator's
parsers must hand each value back. A field renamed on either side fails here."""

from __future__ import annotations

import itertools
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from skiplock.api import routes_ops, routes_tenants
from skiplock.api.ops_schemas import QueueStatsOut, TenantListOut, WorkersOut
from skiplock_operator.podcost import parse_workers
from skiplock_operator.tenants import EngineTenant, QueueStats

# Values the operator validates: a field of this name gets one it accepts.
VALID = {"state": "draining", "id": "pod-a:4242"}


def sample(model: type[BaseModel], counter: itertools.count[int] | None = None) -> Any:
    """An instance of ``model`` with a distinct value in every field (None never).
    Numbers are distinct powers of two, so no sum of some equals another."""
    n = counter or itertools.count(2)
    return model(**{name: _value(name, f.annotation, n) for name, f in model.model_fields.items()})


def _value(name: str, annotation: Any, n: itertools.count[int]) -> Any:  # noqa: PLR0911 - one return per kind of field
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _value(name, args[0], n)
    if typing.get_origin(annotation) is list:
        return [_value(name, args[0], n) for _ in range(2)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sample(annotation, n)
    if annotation is datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(n))
    if annotation is bool:
        return True
    if annotation is int:
        return 2 ** next(n)
    if annotation is float:
        return 2 ** next(n) + 0.25
    if name in VALID:
        return VALID[name]
    return f"{name}-{next(n)}"


def _declared() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(routes_ops.router)
    app.include_router(routes_tenants.router)
    return app.openapi()["paths"]


def _body_ref(paths: dict[str, Any], path: str) -> str:
    schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def test_the_routes_the_operator_reads_declare_the_models_tested_here() -> None:
    paths = _declared()
    assert _body_ref(paths, "/api/queue/stats") == QueueStatsOut.__name__
    assert _body_ref(paths, "/api/tenants") == TenantListOut.__name__
    assert _body_ref(paths, "/api/workers") == WorkersOut.__name__


def test_queue_stats_are_parsed_field_by_field() -> None:
    engine = sample(QueueStatsOut)
    parsed = QueueStats.from_json(engine.model_dump(mode="json"))
    assert parsed.queued == engine.totals.queued
    assert parsed.running == engine.totals.running
    assert parsed.oldest_queued_age_s == engine.oldest_queued_age_s
    assert len(parsed.tenants) == len(engine.tenants)
    for got, row in zip(parsed.tenants, engine.tenants, strict=True):
        assert got.tenant == row.tenant
        assert got.state.value == row.state
        assert (got.queued, got.running, got.drained) == (row.queued, row.running, row.drained)


def test_tenants_are_parsed_field_by_field() -> None:
    engine = sample(TenantListOut)
    body = engine.model_dump(mode="json")
    for item, raw in zip(engine.items, body["items"], strict=True):
        got = EngineTenant.from_json(raw)
        assert (got.name, got.weight, got.state.value) == (item.name, item.weight, item.state)
        assert item.rate_limit is not None and got.rate_limit is not None
        assert (got.rate_limit.cost, got.rate_limit.window_s) == (
            item.rate_limit.cost,
            item.rate_limit.window_s,
        )
        assert (got.queued, got.running, got.drained) == (item.queued, item.running, item.drained)


def test_workers_are_parsed_field_by_field() -> None:
    engine = sample(WorkersOut)
    parsed = parse_workers(engine.model_dump(mode="json"))
    assert [(p.pod, p.slots, p.busy) for p in parsed] == [
        (i.id.rpartition(":")[0], i.slots, i.busy) for i in engine.instances
    ]


def test_a_renamed_field_is_caught() -> None:
    # What a rename on the engine's side looks like to the operator: the value is gone.
    body = sample(QueueStatsOut).model_dump(mode="json")
    body["totals"]["waiting"] = body["totals"].pop("queued")
    assert QueueStats.from_json(body).queued != sample(QueueStatsOut).totals.queued
