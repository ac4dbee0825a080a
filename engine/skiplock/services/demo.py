"""Demo data: three tenants and a mix of simulated tasks, submitted through the task
service like any other submission (validated, rate-limited, counted and announced)."""

from __future__ import annotations

import asyncio
import contextlib
import random

from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import Principal
from skiplock.handlers import SIMULATIONS
from skiplock.ports import Clock, TaskStore
from skiplock.services.submissions import TaskIn
from skiplock.services.tasks import TaskService

# Name -> weight. Seeding makes the missing ones; existing ones keep their settings.
DEMO_TENANTS = {"demo-acme": 3, "demo-globex": 1, "demo-initech": 1}


async def seed(
    tasks: TaskService,
    who: Principal,
    *,
    store: TaskStore,
    clock: Clock,
    count: int,
    rng: random.Random | None = None,
) -> int:
    """Submit ``count`` simulated tasks across the demo tenants; returns how many were
    created. Refused whole, like any batch, when a demo tenant is over its limit."""
    rng = rng or random.Random()
    for name, weight in DEMO_TENANTS.items():
        try:
            await asyncio.to_thread(store.get_tenant, name=name)
        except NotFound:
            with contextlib.suppress(Conflict):  # made meanwhile by another seed
                await asyncio.to_thread(
                    store.create_tenant, name, weight=weight, rate_limit=None, now=clock.now()
                )
    types = sorted(SIMULATIONS)
    items = [
        TaskIn(
            type=rng.choice(types),
            payload={"demo": True, "n": n},
            tenant=rng.choices(list(DEMO_TENANTS), weights=[6, 2, 2])[0],
            priority=rng.choice([0, 0, 0, 5, 10]),
            cost=rng.choice([1, 1, 1, 2, 5]),
            max_attempts=3,
            timeout_s=30.0,
            delay_s=rng.choice([None, None, None, None, 5, 15, 30]),
        )
        for n in range(count)
    ]
    created = 0
    step = tasks.config.max_batch
    for start in range(0, len(items), step):
        done = await tasks.submit(who, items[start : start + step])
        created += sum(1 for s in done.stored if s.created)
    return created


async def clear(store: TaskStore, *, dry_run: bool = False) -> int:
    """Delete every task of the demo tenants (the tenants stay); returns how many were
    deleted, or with ``dry_run`` how many would be, changing nothing."""
    ids = []
    for name in DEMO_TENANTS:
        try:
            ids.append((await asyncio.to_thread(store.get_tenant, name=name)).id)
        except NotFound:
            continue
    if not ids:
        return 0
    if dry_run:
        return await asyncio.to_thread(store.count_tenant_tasks, ids)
    return await asyncio.to_thread(store.delete_tenant_tasks, ids)
