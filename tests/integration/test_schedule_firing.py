"""The firer on MariaDB, on a clock the test moves: three replicas firing the same
schedules at once store exactly one task per tick; a replica that dies holding a lease
delays its schedules but loses no tick; catch-up policies after an outage; a daily cron
across both daylight-saving changes in Europe/Berlin; a tick refused by the tenant's
rate limit is skipped, not retried forever."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from skiplock import metrics
from skiplock.adapters.memory.rate_limiter import MemoryRateLimiter
from skiplock.adapters.sql import SqlTaskStore, create_store
from skiplock.domain.models import AnnouncedType, Event, RateLimit
from skiplock.domain.schedules import CatchUp, ScheduleSpec, Timing, next_tick
from skiplock.handlers import HandlerRegistry
from skiplock.services.firing import Firer, FirerConfig
from skiplock.services.task_types import CatalogConfig, TypeCatalog
from skiplock.services.tasks import TaskService, TaskServiceConfig
from skiplock.settings import Settings

pytestmark = [pytest.mark.timeout(180)]

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, events: Iterable[Event]) -> None:
        self.events.extend(events)

    def work_ready(self) -> None:
        pass


class Replica:
    """One instance's firer, with its own connection pool as a separate process has."""

    def __init__(
        self, url: str, clock: Clock, limiter: MemoryRateLimiter, *, owner: str, lease_s: float
    ) -> None:
        self.store = create_store(url)
        catalog = TypeCatalog(
            CatalogConfig(), store=self.store, handlers=HandlerRegistry(), clock=clock
        )
        self.tasks = TaskService(
            TaskServiceConfig.of(Settings()),
            store=self.store,
            limiter=limiter,
            publisher=Recorder(),  # type: ignore[arg-type]
            clock=clock,
            types=catalog,
        )
        self.firer = Firer(
            FirerConfig(owner=owner, lease_s=lease_s, grace_s=5.0),
            store=self.store,
            tasks=self.tasks,
            clock=clock,
        )


@pytest.fixture
def store(mysql_url: str) -> Iterator[SqlTaskStore]:
    s = create_store(mysql_url)
    s.migrate()
    s.announce_types([AnnouncedType("noop")], now=T0)
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def replicas(mysql_url: str, store: SqlTaskStore, clock: Clock) -> Iterator[list[Replica]]:
    limiter = MemoryRateLimiter(clock=clock.monotonic)
    made = [Replica(mysql_url, clock, limiter, owner=f"r{k}", lease_s=10.0) for k in range(3)]
    yield made
    for r in made:
        r.store.close()


def define(
    store: SqlTaskStore,
    clock: Clock,
    timing: Timing,
    *,
    name: str = "tick",
    catch_up: CatchUp = CatchUp.ONE,
    tenant: str = "default",
    cost: int | None = None,
) -> None:
    spec = ScheduleSpec(
        name=name,
        tenant_id=store.get_tenant(name=tenant).id,
        type="noop",
        timing=timing,
        catch_up=catch_up,
        cost=cost,
    )
    store.create_schedule(spec, next_fire_at=next_tick(timing, clock.now()), now=clock.now())


def fired(store: SqlTaskStore) -> list[tuple[datetime, datetime, str]]:
    """(run_at, created_at, schedule) of every task, oldest tick first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.run_at, t.created_at, f.schedule FROM tasks t"
                " JOIN schedule_fires f ON f.task_id = t.id ORDER BY t.run_at"
            )
        ).all()
    return [
        (r.run_at.replace(tzinfo=UTC), r.created_at.replace(tzinfo=UTC), r.schedule) for r in rows
    ]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def step_all(replicas: list[Replica]) -> None:
    await asyncio.gather(*(r.firer.run_once() for r in replicas))


async def test_three_replicas_fire_a_one_second_schedule_once_per_tick(
    store: SqlTaskStore, clock: Clock, replicas: list[Replica]
) -> None:
    define(store, clock, Timing(every_s=1), catch_up=CatchUp.ALL)
    fires_before = _sample("skiplock_schedule_fires_total", schedule="tick")
    lags_before = _sample("skiplock_schedule_lag_seconds_count")
    for _ in range(40):
        clock.at += timedelta(milliseconds=500)
        await step_all(replicas)
    ticks = [run_at for run_at, _, _ in fired(store)]
    expected = [T0 + timedelta(seconds=s) for s in range(1, 21)]
    assert ticks == expected  # every tick once, none twice, none missing
    assert {name for _, _, name in fired(store)} == {"tick"}
    assert _sample("skiplock_schedule_fires_total", schedule="tick") - fires_before == 20
    assert _sample("skiplock_schedule_lag_seconds_count") - lags_before == 20
    got = store.get_schedule("tick")
    assert got.last_run_at == expected[-1] and got.next_fire_at == expected[-1] + timedelta(
        seconds=1
    )


async def test_a_replica_that_dies_holding_a_lease_delays_its_ticks_but_loses_none(
    store: SqlTaskStore, clock: Clock, replicas: list[Replica]
) -> None:
    define(store, clock, Timing(every_s=1), catch_up=CatchUp.ALL)
    clock.at += timedelta(seconds=1)
    # A replica leases the schedule and dies before firing anything.
    dead = store.lease_schedules(
        now=clock.now(), owner="dead", lease_until=clock.now() + timedelta(seconds=10), limit=10
    )
    assert [s.name for s in dead] == ["tick"]
    for _ in range(8):
        clock.at += timedelta(seconds=1)
        await step_all(replicas)
    assert fired(store) == []  # held by the dead replica's lease
    for _ in range(8):
        clock.at += timedelta(seconds=1)
        await step_all(replicas)
    ticks = [run_at for run_at, _, _ in fired(store)]
    assert ticks == [T0 + timedelta(seconds=s) for s in range(1, 18)]


@pytest.mark.parametrize(
    ("policy", "expected_fires"),
    [(CatchUp.NONE, 1), (CatchUp.ONE, 1), (CatchUp.ALL, 11)],
)
async def test_catch_up_after_an_outage(
    store: SqlTaskStore,
    clock: Clock,
    replicas: list[Replica],
    policy: CatchUp,
    expected_fires: int,
) -> None:
    define(store, clock, Timing(every_s=60), catch_up=policy)
    skipped = metrics.SCHEDULE_SKIPPED.labels("tick", "catch_up")
    before = skipped._value.get()
    # Down for ten minutes and a half: the ticks 12:01 .. 12:10 are late; the run that
    # comes back at 12:10:30 finds 12:10 late too (grace 5 s) for NONE and ONE.
    clock.at = T0 + timedelta(minutes=10, seconds=30)
    await step_all(replicas)
    ticks = [run_at for run_at, _, _ in fired(store)]
    minutes = [int((t - T0).total_seconds() // 60) for t in ticks]
    if policy is CatchUp.NONE:
        assert minutes == []
        assert skipped._value.get() - before == 10
        # ... and the next tick on time fires.
        clock.at = T0 + timedelta(minutes=11, seconds=1)
        await step_all(replicas)
        minutes = [int((t - T0).total_seconds() // 60) for t, _, _ in fired(store)]
        assert minutes == [11]
    elif policy is CatchUp.ONE:
        assert minutes == [10]
        assert skipped._value.get() - before == 9
    else:
        assert minutes == list(range(1, 11))
        assert skipped._value.get() - before == 0
        clock.at = T0 + timedelta(minutes=11, seconds=1)
        await step_all(replicas)
        minutes = [int((t - T0).total_seconds() // 60) for t, _, _ in fired(store)]
        assert minutes == list(range(1, 12))
    assert len(minutes) == expected_fires


@pytest.mark.parametrize(
    ("day", "local_times"),
    [
        # Spring forward: 02:30 does not exist on 29 March; it fires at 03:00 instead.
        (
            datetime(2026, 3, 28, tzinfo=UTC),
            ["03-28 02:30+0100", "03-29 03:00+0200", "03-30 02:30+0200"],
        ),
        # Fall back: 02:30 happens twice on 25 October; it fires at the first only.
        (
            datetime(2026, 10, 24, tzinfo=UTC),
            ["10-24 02:30+0200", "10-25 02:30+0200", "10-26 02:30+0100"],
        ),
    ],
)
async def test_a_daily_cron_in_berlin_fires_once_a_day_across_dst(
    store: SqlTaskStore,
    clock: Clock,
    replicas: list[Replica],
    day: datetime,
    local_times: list[str],
) -> None:
    clock.at = day - timedelta(hours=2)
    define(store, clock, Timing(cron="30 2 * * *", timezone="Europe/Berlin"))
    end = day + timedelta(days=3) - timedelta(hours=2)
    while True:
        # To just after each tick the schedule says is next: a tick it skipped or
        # doubled shows in the list below.
        due = store.get_schedule("tick").next_fire_at
        assert due is not None
        if due >= end:
            break
        clock.at = due + timedelta(seconds=1)
        await step_all(replicas)
    berlin = ZoneInfo("Europe/Berlin")
    got = [t.astimezone(berlin).strftime("%m-%d %H:%M%z") for t, _, _ in fired(store)]
    assert got == local_times


async def test_a_tick_over_the_tenants_rate_limit_is_skipped_and_the_next_fires(
    store: SqlTaskStore, clock: Clock, replicas: list[Replica]
) -> None:
    store.create_tenant("metered", weight=1, rate_limit=RateLimit(cost=3, window_s=60), now=T0)
    define(store, clock, Timing(every_s=10), tenant="metered", cost=2, catch_up=CatchUp.ALL)
    limited = metrics.SCHEDULE_SKIPPED.labels("tick", "rate_limited")
    before = limited._value.get()
    for _ in range(7):  # ticks at 10, 20 ... 70 s
        clock.at += timedelta(seconds=10)
        await step_all(replicas)
    minutes = Counter(int((t - T0).total_seconds()) for t, _, _ in fired(store))
    # 2 units per fire, 3 per minute: one fire per sliding minute.
    assert sorted(minutes) == [10, 70]
    assert limited._value.get() - before == 5


async def test_an_hourly_cron_in_berlin_fires_every_real_hour_of_the_25_hour_day(
    store: SqlTaskStore, clock: Clock, replicas: list[Replica]
) -> None:
    # 25 October 2026 in Berlin lasts 25 hours: 22:00 UTC on the 24th to 23:00 on the 25th.
    clock.at = datetime(2026, 10, 24, 21, 59, tzinfo=UTC)
    define(store, clock, Timing(cron="0 * * * *", timezone="Europe/Berlin"))
    end = datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    while (due := store.get_schedule("tick").next_fire_at) is not None and due < end:
        clock.at = due + timedelta(seconds=1)
        await step_all(replicas)
    ticks = [t for t, _, _ in fired(store)]
    assert len(ticks) == 25
    assert {b - a for a, b in itertools.pairwise(ticks)} == {timedelta(hours=1)}
    berlin = ZoneInfo("Europe/Berlin")
    local = [t.astimezone(berlin).strftime("%H%z") for t in ticks]
    assert local[2:5] == ["02+0200", "02+0100", "03+0100"]  # the repeated hour, once each
