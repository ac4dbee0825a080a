"""Tenant settings: what a TaskQueue asks for, what the engine has, and the requests that
close the gap. Pure.

A tenant listed in a TaskQueue is owned by it: weight, rate limit and state are kept as
written (the CRD defaults are weight 1, no rate limit, Active), so a pause made elsewhere
is undone on the next poll. Tenants the TaskQueue does not list are never touched. The
operator neither creates nor deletes tenants: a tenant comes with its API key, which is
made where someone will keep it (``skiplock tenant create``, ``POST /api/tenants``), and a
TaskQueue naming a tenant the engine does not have is a mistake to report, not to paper
over.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skiplock_operator.scaling import QueueLoad

_RATE_LIMIT = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")
# The engine's bounds (POST /api/tenants refuses anything outside them with a 422).
MAX_RATE_COST = 10_000_000
MAX_RATE_WINDOW_S = 86_400
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class TenantSpecError(ValueError):
    """A tenant entry in the TaskQueue cannot be applied."""


class TenantState(enum.StrEnum):
    """The engine's spelling; the CRD capitalises it (``Active``)."""

    ACTIVE = "active"
    PAUSED = "paused"
    DRAINING = "draining"

    @property
    def crd_name(self) -> str:
        return self.value.capitalize()

    @classmethod
    def parse(cls, text: str) -> TenantState:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise TenantSpecError(f"unknown tenant state {text!r}") from None


@dataclass(frozen=True)
class RateLimit:
    cost: int
    window_s: float

    def __str__(self) -> str:
        return f"{self.cost}/{self.window_s:g}"

    @classmethod
    def parse(cls, text: str | None) -> RateLimit | None:
        """``"COST/SECONDS"``; ``None``, ``""`` and ``"none"`` mean no limit."""
        if text is None or text.strip().lower() in ("", "none"):
            return None
        match = _RATE_LIMIT.match(text)
        if match is None:
            raise TenantSpecError(f"rate limit {text!r} is not COST/SECONDS (whole numbers)")
        cost, window = int(match.group(1)), int(match.group(2))
        if not (1 <= cost <= MAX_RATE_COST and 1 <= window <= MAX_RATE_WINDOW_S):
            raise TenantSpecError(
                f"rate limit {text!r} is out of range: COST 1..{MAX_RATE_COST:,},"
                f" SECONDS 1..{MAX_RATE_WINDOW_S:,}"
            )
        return cls(cost, float(window))

    @classmethod
    def from_engine(cls, raw: Any) -> RateLimit | None:
        if not raw:
            return None
        if isinstance(raw, str):
            return cls.parse(raw)
        return cls(int(raw["cost"]), float(raw["window_s"]))


@dataclass(frozen=True)
class TenantSpec:
    name: str
    weight: int = 1
    rate_limit: RateLimit | None = None
    state: TenantState = TenantState.ACTIVE


@dataclass(frozen=True)
class EngineTenant:
    name: str
    weight: int
    rate_limit: RateLimit | None
    state: TenantState
    queued: int = 0
    running: int = 0
    drained: bool = False

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EngineTenant:
        return cls(
            name=str(raw["name"]),
            weight=int(raw.get("weight", 1)),
            rate_limit=RateLimit.from_engine(raw.get("rate_limit")),
            state=TenantState.parse(str(raw.get("state", "active"))),
            queued=int(raw.get("queued") or 0),
            running=int(raw.get("running") or 0),
            drained=bool(raw.get("drained", False)),
        )


def tenants_from_spec(raw: Mapping[str, Any] | None) -> dict[str, TenantSpec]:
    """Parse ``spec.tenants`` (name -> {weight, rateLimit, state})."""
    result: dict[str, TenantSpec] = {}
    for name, maybe_entry in (raw or {}).items():
        if not _TENANT_NAME.match(name):
            raise TenantSpecError(f"tenant name {name!r} is not valid")
        entry = maybe_entry or {}
        try:
            weight = int(entry.get("weight", 1))
        except (TypeError, ValueError):
            raise TenantSpecError(f"tenant {name}: weight must be an integer") from None
        if not 1 <= weight <= 1000:
            raise TenantSpecError(f"tenant {name}: weight must be between 1 and 1000")
        result[name] = TenantSpec(
            name=name,
            weight=weight,
            rate_limit=RateLimit.parse(entry.get("rateLimit")),
            state=TenantState.parse(str(entry.get("state", "Active"))),
        )
    return result


@dataclass(frozen=True)
class TenantChange:
    """One tenant to bring in line: ``patch`` is the body of ``PATCH /api/tenants/{name}``."""

    name: str
    patch: dict[str, Any]

    def describe(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in sorted(self.patch.items()))
        return f"update tenant {self.name} ({fields})"


def missing_tenants(desired: Iterable[str], actual: Mapping[str, EngineTenant]) -> list[str]:
    """The tenants a TaskQueue names that the engine does not have."""
    return sorted(name for name in desired if name not in actual)


def plan_changes(
    desired: Mapping[str, TenantSpec], actual: Mapping[str, EngineTenant]
) -> list[TenantChange]:
    """The PATCHes that make the engine's tenants match ``desired``; tenants the engine
    does not have are the caller's to report (see missing_tenants), not planned here."""
    changes: list[TenantChange] = []
    for name, want in sorted(desired.items()):
        have = actual.get(name)
        if have is None:
            continue
        patch: dict[str, Any] = {}
        if have.weight != want.weight:
            patch["weight"] = want.weight
        if have.rate_limit != want.rate_limit:
            patch["rate_limit"] = None if want.rate_limit is None else str(want.rate_limit)
        if have.state is not want.state:
            patch["state"] = want.state.value
        if patch:
            changes.append(TenantChange(name, patch))
    return changes


# --- queue stats ------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantLoad:
    tenant: str
    state: TenantState
    queued: int
    running: int
    drained: bool


@dataclass(frozen=True)
class QueueStats:
    """``GET /api/queue/stats``, reduced to what the operator uses."""

    tenants: tuple[TenantLoad, ...]
    queued: int
    running: int
    oldest_queued_age_s: float | None

    @classmethod
    def empty(cls) -> QueueStats:
        """The stats of no tenant at all (a TaskQueue whose every tenant is another's)."""
        return cls(tenants=(), queued=0, running=0, oldest_queued_age_s=None)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> QueueStats:
        totals = raw.get("totals") or {}
        rows = tuple(
            TenantLoad(
                tenant=str(row["tenant"]),
                state=TenantState.parse(str(row.get("state", "active"))),
                queued=int(row.get("queued") or 0),
                running=int(row.get("running") or 0),
                drained=bool(row.get("drained", False)),
            )
            for row in raw.get("tenants") or ()
        )
        oldest = raw.get("oldest_queued_age_s")
        return cls(
            tenants=rows,
            queued=int(totals.get("queued", sum(r.queued for r in rows)) or 0),
            running=int(totals.get("running", sum(r.running for r in rows)) or 0),
            oldest_queued_age_s=None if oldest is None else float(oldest),
        )

    def merged(self, other: QueueStats) -> QueueStats:
        """Stats over disjoint tenant sets (answers to a long list asked in parts)."""
        ages = [a for a in (self.oldest_queued_age_s, other.oldest_queued_age_s) if a is not None]
        return QueueStats(
            tenants=self.tenants + other.tenants,
            queued=self.queued + other.queued,
            running=self.running + other.running,
            oldest_queued_age_s=max(ages) if ages else None,
        )

    def load(self) -> QueueLoad:
        """The scaling metric. A paused tenant's queued tasks will not be claimed, so they
        do not ask for workers; its running tasks (finishing up) still hold theirs."""
        if not self.tenants:
            return QueueLoad(queued=self.queued, running=self.running)
        claimable = sum(r.queued for r in self.tenants if r.state is not TenantState.PAUSED)
        return QueueLoad(queued=claimable, running=sum(r.running for r in self.tenants))


@dataclass(frozen=True)
class TenantStatus:
    state: str  # Active | Paused | Draining | Unknown
    queued: int
    running: int
    drained: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "queued": self.queued,
            "running": self.running,
            "drained": self.drained,
        }


def tenant_statuses(
    names: Iterable[str],
    *,
    engine: Mapping[str, EngineTenant],
    stats: QueueStats | None,
) -> dict[str, TenantStatus]:
    """``status.tenants`` for the tenants the TaskQueue lists; the queue stats are the
    fresher source of counts, the tenant list the fallback."""
    by_name = {row.tenant: row for row in stats.tenants} if stats else {}
    result: dict[str, TenantStatus] = {}
    for name in sorted(names):
        row = by_name.get(name)
        known = engine.get(name)
        if row is not None:
            result[name] = TenantStatus(row.state.crd_name, row.queued, row.running, row.drained)
        elif known is not None:
            result[name] = TenantStatus(
                known.state.crd_name, known.queued, known.running, known.drained
            )
        else:
            result[name] = TenantStatus("Unknown", 0, 0, False)
    return result
