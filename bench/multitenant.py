"""Helpers shared by the multi-tenant scenarios (fairness, ratelimit, scale, chaos):
tenants in a throwaway database, per-tenant bulk enqueue through the engine's store, the
machine's load average, and sliding-window arithmetic over stored timestamps."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bench import common


def load() -> dict[str, float]:
    """The machine's load average (what `uptime` prints) at this moment."""
    one, five, fifteen = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2), "load15": round(fifteen, 2)}


def ensure_tenant(store: Any, name: str, *, weight: int = 1, rate_limit: Any = None) -> int:
    """The id of tenant ``name`` with ``weight`` (created, or updated when it exists)."""
    from skiplock.domain.errors import NotFound

    try:
        tenant = store.get_tenant(name=name)
    except NotFound:
        tenant = store.create_tenant(
            name, weight=weight, rate_limit=rate_limit, now=datetime.now(UTC)
        )
        return int(tenant.id)
    if tenant.weight != weight:
        store.update_tenant(tenant.id, weight=weight)
    return int(tenant.id)


def enqueue(
    store: Any,
    tenant_id: int,
    count: int,
    *,
    task_type: str,
    payload: dict[str, Any] | None = None,
    cost: Callable[[int], int] | None = None,
    chunk: int = 1000,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    """Queue ``count`` tasks for ``tenant_id`` through ``store.submit``, ``chunk`` per
    transaction (the engine's own insert path, so rows look exactly like submitted ones)."""
    from skiplock.domain.models import NewTask

    done = 0
    while done < count:
        n = min(chunk, count - done)
        now = datetime.now(UTC)
        store.submit(
            [
                NewTask(
                    tenant_id=tenant_id,
                    type=task_type,
                    payload=payload or {},
                    priority=0,
                    cost=cost(done + i) if cost else 1,
                    max_attempts=3,
                    timeout_s=300.0,
                    run_at=now,
                )
                for i in range(n)
            ],
            now=now,
        )
        done += n
        if on_chunk:
            on_chunk(n)


def random_cost(seed: int) -> Callable[[int], int]:
    rng = random.Random(seed)
    return lambda _i: rng.randint(1, 5)


def ts(value: Any) -> float:
    """A database datetime as epoch seconds (naive values are UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise common.BenchError(f"expected a datetime from the database, got {value!r}")


def max_in_window(events: Sequence[tuple[float, int]], window_s: float) -> tuple[int, float]:
    """The largest total cost of ``events`` (time, cost) inside any half-open window
    ``(t - window_s, t]`` — the limiter's own definition — and where it ends."""
    ordered = sorted(events)
    best, best_at = 0, 0.0
    total = 0
    lo = 0
    for t, c in ordered:
        total += c
        while ordered[lo][0] <= t - window_s:
            total -= ordered[lo][1]
            lo += 1
        if total > best:
            best, best_at = total, t
    return best, best_at


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, every_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()


def save_figure(fig: Any, name: str, *, quick: bool) -> Any:
    """Save a matplotlib figure as docs/images/bench-NAME.png (quick runs: under
    bench/results/, so a smoke test never replaces the figure the docs show)."""
    import matplotlib.pyplot as plt

    folder = common.RESULTS_DIR if quick else common.IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"bench-{name}-quick.png" if quick else f"bench-{name}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
