"""Which TaskQueue owns a tenant when two name it: pure.

Two TaskQueues that list one tenant of one engine would each apply their settings on
every poll and flip the tenant back and forth. The earliest TaskQueue (creation time, then
namespace and name, so every operator pass and every peer agrees) keeps the tenant; a
later one reports a ``Conflict`` condition and neither applies that tenant's settings nor
scales on its depth, until the claim goes away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Claim:
    """One TaskQueue's claim on tenants of one engine."""

    namespace: str
    name: str
    uid: str | None
    created: str  # RFC 3339 as the API server writes it; sorts by time
    engine: str  # canonical engine URL
    tenants: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def order(self) -> tuple[str, str, str]:
        # An object without a creation time (never from a real API server) sorts last.
        return (self.created or "~", self.namespace, self.name)

    def is_same_object(self, other: Claim) -> bool:
        if self.uid and other.uid:
            return self.uid == other.uid
        return (self.namespace, self.name) == (other.namespace, other.name)


def claim_of(obj: Mapping[str, Any], engine_of: Callable[[str | None], str | None]) -> Claim | None:
    """The claim a TaskQueue object makes, or None when it makes none: being deleted, no
    tenants, or an engine the operator will not talk to (``engine_of`` returns None)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return None
    tenants = spec.get("tenants") or {}
    if not isinstance(tenants, Mapping) or not tenants:
        return None
    engine = engine_of((spec.get("engine") or {}).get("url"))
    if engine is None:
        return None
    return Claim(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=meta.get("uid"),
        created=str(meta.get("creationTimestamp") or ""),
        engine=engine,
        tenants=frozenset(str(t) for t in tenants),
    )


def conflicts(mine: Claim, others: Iterable[Claim]) -> dict[str, str]:
    """The tenants of ``mine`` that an earlier claim on the same engine holds, each with
    that TaskQueue's ``namespace/name``."""
    lost: dict[str, str] = {}
    for other in sorted(others, key=lambda c: c.order):
        if other.is_same_object(mine) or other.engine != mine.engine:
            continue
        if other.order >= mine.order:
            break
        for tenant in sorted(mine.tenants & other.tenants):
            lost.setdefault(tenant, other.label)
    return lost
