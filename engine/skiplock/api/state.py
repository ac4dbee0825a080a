"""What one API instance keeps between requests, typed: key and session caches, open
event streams, the analytics cache and turns, and the queue figures it shares."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skiplock import metrics
from skiplock.api.errors import ApiError
from skiplock.domain.models import Principal, TenantDepth
from skiplock.ports import StoredKey

if TYPE_CHECKING:
    from skiplock.api.context import ApiConfig

CACHE_TTL_S = 5.0  # a revoked key or ended session stops working within this many seconds


class KeyCache:
    """Looked-up keys for a few seconds, so each request does not cost a query."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, StoredKey | None]] = {}

    def get(self, prefix: str) -> tuple[bool, StoredKey | None]:
        hit = self._entries.get(prefix)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, prefix: str, stored: StoredKey | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[prefix] = (time.monotonic() + CACHE_TTL_S, stored)

    def drop(self, prefix: str) -> None:
        self._entries.pop(prefix, None)


class StreamSlots:
    """Open event streams on this instance, counted per holder (see the module doc)."""

    def __init__(self) -> None:
        self.total = 0
        self.admins = 0
        self.by_holder: dict[tuple[str, int], int] = {}

    @staticmethod
    def holder(who: Principal) -> tuple[str, int]:
        if who.tenant_id is not None:
            return ("tenant", who.tenant_id)
        return ("key", who.key_id)

    def take(self, who: Principal, config: ApiConfig) -> None:
        """Count a new stream for ``who``, or raise the refusal."""
        shared_cap = config.sse_max_connections - config.sse_admin_reserve
        if self.total >= config.sse_max_connections or (
            not who.is_admin and self.total - self.admins >= shared_cap
        ):
            raise ApiError(
                503,
                "unavailable",
                "too many live connections on this instance; retry",
                headers={"Retry-After": "5"},
            )
        if not who.is_admin and self.by_holder.get(self.holder(who), 0) >= (
            config.sse_max_per_tenant
        ):
            raise ApiError(
                429,
                "rate_limited",
                f"at most {config.sse_max_per_tenant} live connections per tenant on an "
                "instance; close one first",
                headers={"Retry-After": "5"},
            )
        self._add(who, 1)

    def give_back(self, who: Principal) -> None:
        self._add(who, -1)

    def _add(self, who: Principal, n: int) -> None:
        self.total += n
        self.admins += n if who.is_admin else 0
        holder = self.holder(who)
        self.by_holder[holder] = self.by_holder.get(holder, 0) + n
        if not self.by_holder[holder]:
            del self.by_holder[holder]
        metrics.SSE_CONNECTIONS.set(self.total)


class SlowReads:
    """The analytics cache, the computations in flight and each caller's turn."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self.in_flight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self.turns: dict[tuple[str, int], asyncio.Semaphore] = {}
        self.waiting: dict[tuple[str, int], int] = {}


@dataclass
class ApiState:
    keys: KeyCache = field(default_factory=KeyCache)
    sessions: KeyCache = field(default_factory=KeyCache)
    streams: StreamSlots = field(default_factory=StreamSlots)
    slow_reads: SlowReads = field(default_factory=SlowReads)
    # Queue figures shared by /api/queue/stats and the tenant routes: (expires, figures).
    stats: tuple[float, list[TenantDepth]] | None = None

    def forget_stats(self) -> None:
        """Tenant rows changed: recount on the next read."""
        self.stats = None

    def forget_keys(self) -> None:
        """A key was revoked: look every key and session up again."""
        self.keys = KeyCache()
        self.sessions = KeyCache()
