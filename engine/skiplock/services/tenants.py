"""The tenant use cases — create (with its first key), change weight, rate limit or
state — in one place that the HTTP routes and the CLI both call, so each change is
announced on the live stream and un-pausing wakes the workers whoever asked for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from skiplock.domain.models import Event, RateLimit, Role, Tenant, TenantState
from skiplock.ports import Clock, TaskStore
from skiplock.services.keys import issue_key
from skiplock.services.publisher import EventPublisher


def tenant_event(tenant: Tenant) -> Event:
    return Event(
        kind="tenant",
        tenant_id=tenant.id,
        data={"tenant": tenant.name, "state": tenant.state.value, "weight": tenant.weight},
    )


class TenantService:
    """Every operation that changes a tenant."""

    def __init__(
        self,
        *,
        store: TaskStore,
        publisher: EventPublisher,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        # Called after every change (the API drops its cached queue figures).
        self._on_change = on_change

    async def create(
        self, name: str, *, weight: int = 1, rate_limit: RateLimit | None = None
    ) -> tuple[Tenant, str]:
        """Create tenant ``name`` with its first tenant key; returns both (the key is
        shown once)."""
        tenant = await asyncio.to_thread(
            self._store.create_tenant,
            name,
            weight=weight,
            rate_limit=rate_limit,
            now=self._clock.now(),
        )
        issued = await asyncio.to_thread(
            issue_key,
            self._store,
            role=Role.TENANT,
            tenant_id=tenant.id,
            name=tenant.name,
            now=self._clock.now(),
        )
        self._changed(tenant)
        return tenant, issued.key

    async def update(
        self,
        name: str,
        *,
        weight: int | None = None,
        rate_limit: RateLimit | None = None,
        clear_rate_limit: bool = False,
        state: TenantState | None = None,
    ) -> Tenant:
        """Change what is given; a tenant leaving ``paused`` wakes idle workers."""
        before = await asyncio.to_thread(self._store.get_tenant, name=name)
        after = await asyncio.to_thread(
            self._store.update_tenant,
            before.id,
            weight=weight,
            rate_limit=rate_limit,
            clear_rate_limit=clear_rate_limit,
            state=state,
        )
        self._changed(after)
        if before.state is TenantState.PAUSED and after.state is not TenantState.PAUSED:
            self._publisher.work_ready()
        return after

    async def set_state(self, name: str, state: TenantState) -> Tenant:
        return await self.update(name, state=state)

    def _changed(self, tenant: Tenant) -> None:
        self._on_change()
        self._publisher.emit([tenant_event(tenant)])
