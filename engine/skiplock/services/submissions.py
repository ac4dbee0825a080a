"""What a submission may hold and how it becomes a stored task: the one set of rules
that every way in applies — the HTTP API (and so the Python client) and transactional
enqueue. Bounds come from :mod:`skiplock.domain.limits`; defaults from the submission,
then the handler's options, then the engine's settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from skiplock.domain import limits
from skiplock.domain.errors import FieldError, TooLarge, ValidationError
from skiplock.domain.models import NewTask
from skiplock.handlers import HandlerDefaults
from skiplock.settings import ApiSettings

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
IDEMPOTENCY_PATTERN = r"^[\x21-\x7e]+$"


class TaskIn(BaseModel):
    """One submission, as the HTTP API and ``skiplock.enqueue`` accept it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=TYPE_PATTERN, description="A registered task type.")
    payload: Any = Field(default=None, description="Any JSON value; objects are usual.")
    priority: int = Field(
        0,
        ge=limits.PRIORITY.low,
        le=limits.PRIORITY.high,
        description="Higher runs first, within a tenant.",
    )
    cost: int = Field(
        limits.DEFAULT_COST,
        ge=limits.COST.low,
        le=limits.COST.high,
        description="Charged to fairness and rate limits. Left out: the handler's cost, or 1.",
    )
    max_attempts: int | None = Field(
        None,
        ge=limits.MAX_ATTEMPTS.low,
        le=limits.MAX_ATTEMPTS.high,
        description="Left out: the handler's max_attempts, or SKIPLOCK_DEFAULT_MAX_ATTEMPTS.",
    )
    timeout_s: float | None = Field(
        None,
        ge=limits.TIMEOUT_S.low,
        le=limits.TIMEOUT_S.high,
        description="Left out: the handler's timeout_s, or SKIPLOCK_DEFAULT_TIMEOUT_S.",
    )
    delay_s: float | None = Field(None, ge=limits.DELAY_S.low, le=limits.DELAY_S.high)
    run_at: AwareDatetime | None = None
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=128, pattern=IDEMPOTENCY_PATTERN
    )
    tenant: str | None = Field(
        None, pattern=NAME_PATTERN, description="Admin keys only: the tenant to submit for."
    )


@dataclass(frozen=True, slots=True)
class SubmitRules:
    """The engine's configured limits and defaults for submissions."""

    max_payload_bytes: int
    default_max_attempts: int
    default_timeout_s: float
    max_json_depth: int = 32

    @classmethod
    def of(cls, settings: ApiSettings) -> SubmitRules:
        return cls(
            max_payload_bytes=settings.max_payload_bytes,
            default_max_attempts=settings.default_max_attempts,
            default_timeout_s=settings.default_timeout_s,
        )


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping once past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def stored_json(value: Any, field: str) -> bytes:
    """``value`` as the store will write it (UTF-8 JSON). Python's parser lets through
    what is not JSON and what no database can store: NaN and Infinity (also as 1e400)
    and lone UTF-16 surrogates (``"\\ud800"``); refuse them here."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode()
    except UnicodeEncodeError:  # before ValueError, its base class
        message = "strings must be valid Unicode (no lone surrogates)"
    except RecursionError:
        message = "too deeply nested"
    except ValueError:
        message = "NaN and Infinity are not JSON numbers"
    except TypeError as exc:  # only reachable from Python callers (enqueue)
        message = f"not JSON: {exc}"
    raise ValidationError(f"{field}: {message}", fields=[FieldError(field, message)])


def check(
    item: TaskIn,
    *,
    types: Mapping[str, HandlerDefaults],
    rules: SubmitRules,
    where: str = "",
) -> None:
    """Raise :class:`ValidationError` (or :class:`TooLarge`) unless ``item`` can be
    stored as it is. ``types`` are the known task types (``services.task_types``);
    ``where`` prefixes field names (``tasks.3.``)."""
    if item.type not in types:
        known = ", ".join(sorted(types))
        raise ValidationError(
            f"no worker has announced task type {item.type!r}; start a worker whose "
            f"SKIPLOCK_HANDLERS module registers it with @handler({item.type!r}), or check "
            f"the name. Known types: {known}",
            fields=[FieldError(f"{where}type", f"no worker has announced it; known: {known}")],
        )
    if item.delay_s is not None and item.run_at is not None:
        raise ValidationError(
            "give delay_s or run_at, not both",
            fields=[FieldError(f"{where}run_at", "conflicts with delay_s")],
        )
    if item.run_at is not None and not limits.EARLIEST <= item.run_at < limits.LATEST:
        raise ValidationError(
            f"{where}run_at must be between {limits.EARLIEST:%Y-%m-%d} and "
            f"{limits.LATEST:%Y-%m-%d} (UTC)",
            fields=[FieldError(f"{where}run_at", "out of range")],
        )
    # Size before depth: the size is one C-speed serialisation, bounded by the body
    # limit; the depth walk visits every value in Python.
    size = len(stored_json(item.payload, f"{where}payload"))
    if size > rules.max_payload_bytes:
        raise TooLarge(
            f"{where}payload is {size} bytes; the limit is {rules.max_payload_bytes}",
            fields=[FieldError(f"{where}payload", "too large")],
        )
    if json_depth(item.payload, rules.max_json_depth) > rules.max_json_depth:
        raise ValidationError(
            f"{where}payload nests deeper than {rules.max_json_depth} levels",
            fields=[FieldError(f"{where}payload", "too deeply nested")],
        )


def cost_of(item: TaskIn, types: Mapping[str, HandlerDefaults]) -> int:
    """The cost charged for ``item``: its own when it sets one, else its handler's."""
    if "cost" in item.model_fields_set:
        return item.cost
    found = types.get(item.type)
    if found is not None and found.cost is not None:
        return found.cost
    return item.cost


def new_task(
    item: TaskIn,
    *,
    tenant_id: int,
    now: datetime,
    types: Mapping[str, HandlerDefaults],
    rules: SubmitRules,
) -> NewTask:
    """The task to store for a checked ``item``, with every default resolved."""
    defaults = types.get(item.type)
    max_attempts = item.max_attempts or (defaults and defaults.max_attempts)
    timeout_s = item.timeout_s or (defaults and defaults.timeout_s)
    run_at = item.run_at if item.run_at is not None else now + timedelta(seconds=item.delay_s or 0)
    return NewTask(
        tenant_id=tenant_id,
        type=item.type,
        payload=item.payload,
        priority=item.priority,
        cost=cost_of(item, types),
        max_attempts=max_attempts or rules.default_max_attempts,
        timeout_s=timeout_s or rules.default_timeout_s,
        run_at=run_at,
        idempotency_key=item.idempotency_key,
    )
