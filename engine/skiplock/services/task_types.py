"""Which task types this cluster accepts, and each one's defaults for submissions.

A type is known when this process's own handlers register it or when any worker has
ever announced it (``TaskStore.announce_types``, written by the announcer). So an
API-only instance accepts a type without importing the code that handles it, and the
embedded single process accepts its own types before its worker has written a row.

The table is small (one row per type) and read whole. An answer is reused for
``cache_s``; a submission naming a type the answer lacks reads the table again at once,
but at most every ``miss_reread_s``, so a stream of misspelt types costs one read a
second, not one a request."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from skiplock.domain.models import AnnouncedType, TaskType
from skiplock.handlers import HandlerDefaults, HandlerRegistry
from skiplock.ports import Clock, TaskStore, WorkerRegistry


def announced(handlers: HandlerRegistry) -> list[AnnouncedType]:
    """What a worker running ``handlers`` announces."""
    out = []
    for name in handlers.names():
        found = handlers.get(name)
        assert found is not None
        d = found.defaults
        out.append(
            AnnouncedType(name, max_attempts=d.max_attempts, timeout_s=d.timeout_s, cost=d.cost)
        )
    return out


def defaults_of(t: TaskType) -> HandlerDefaults:
    return HandlerDefaults(max_attempts=t.max_attempts, timeout_s=t.timeout_s, cost=t.cost)


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    cache_s: float = 30.0
    miss_reread_s: float = 1.0

    def __post_init__(self) -> None:
        if self.cache_s <= 0 or self.miss_reread_s < 0:
            raise ValueError("type catalog: cache_s must be positive, miss_reread_s >= 0")


@dataclass(frozen=True, slots=True)
class TypeView:
    """An announced type and the live instances whose workers handle it."""

    type: TaskType
    instances: tuple[str, ...]


class TypeCatalog:
    """The known task types with their defaults, as submissions are checked against them
    (one per API instance, shared by every way in)."""

    def __init__(
        self,
        config: CatalogConfig,
        *,
        store: TaskStore,
        handlers: HandlerRegistry,
        clock: Clock,
    ) -> None:
        self.config = config
        self._store = store
        self._handlers = handlers
        self._clock = clock
        self._announced: dict[str, HandlerDefaults] = {}
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def _local(self) -> dict[str, HandlerDefaults]:
        out = {}
        for name in self._handlers.names():
            found = self._handlers.get(name)
            assert found is not None
            out[name] = found.defaults
        return out

    async def known(self, wanted: Collection[str] = ()) -> Mapping[str, HandlerDefaults]:
        """Every known type with its defaults (this process's handlers' own first), read
        from the store again when the cached answer is stale or lacks one of
        ``wanted``. Raises :class:`~skiplock.domain.errors.Unavailable` only when the
        store must be read and cannot be."""
        local = self._local()
        missing = [w for w in wanted if w not in local and w not in self._announced]
        if self._due(missing):
            async with self._lock:
                if self._due([w for w in missing if w not in self._announced]):
                    rows = await asyncio.to_thread(self._store.task_types)
                    self._announced = {t.name: defaults_of(t) for t in rows}
                    self._read_at = self._clock.monotonic()
        return {**self._announced, **local}

    def _due(self, missing: list[str]) -> bool:
        if self._read_at is None:
            return True
        age = self._clock.monotonic() - self._read_at
        return age >= self.config.cache_s or (bool(missing) and age >= self.config.miss_reread_s)

    async def overview(self, registry: WorkerRegistry) -> list[TypeView]:
        """Every announced type, with the live instances that handle it now."""
        rows = await asyncio.to_thread(self._store.task_types)
        instances = await registry.instances()
        return [
            TypeView(type=t, instances=tuple(i.id for i in instances if t.name in i.types))
            for t in rows
        ]
