"""The operator's engine client against a real engine: answers parsed from the engine's
own responses, and a long tenant list asked in parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from skiplock_operator.engine_client import STATS_TENANTS_PER_CALL, EngineClient
from tests.skiplock_operator.conftest import Engine, eventually


async def _queued(reader: EngineClient, names: list[str], expected: int) -> bool:
    return (await reader.queue_stats(names)).queued == expected


async def test_depth_of_more_tenants_than_one_request_takes_is_summed_over_parts(
    start_engine: Callable[..., Awaitable[Engine]],
) -> None:
    engine = await start_engine(workers=0)
    names = [f"t{i:03d}" for i in range(STATS_TENANTS_PER_CALL + 50)]
    async with engine.client() as client:
        for name in names:
            assert (await client.post("/api/tenants", json={"name": name})).status_code == 201
        # One queued task for every third tenant, two for the last one.
        tasks = [{"type": "noop", "tenant": n} for n in names[::3]]
        tasks.append({"type": "noop", "tenant": names[-1]})
        assert (await client.post("/api/tasks/batch", json={"tasks": tasks})).status_code == 201

    async with EngineClient(engine.url, engine.reader_key) as reader:
        # The engine recomputes its figures at most every 2 s: wait for ones that count
        # the batch, then check them whole.
        await eventually(
            lambda: _queued(reader, names, len(tasks)), message="figures that count the batch"
        )
        stats = await reader.queue_stats(names)
        assert {t.tenant for t in stats.tenants} == set(names)
        assert stats.queued == len(tasks)
        assert stats.load().queued == len(tasks)
        assert stats.oldest_queued_age_s is not None
        # A part alone sees only its own tenants.
        first = await reader.queue_stats(names[:10])
        assert first.queued == len(names[:10:3])
