"""Schedules: periodic tasks, and the pure arithmetic of their fire times.

A schedule ticks either on a cron expression (5 fields, or 6 with seconds first),
evaluated in an IANA time zone, or every ``every_s`` seconds counted from the Unix epoch
(so every instance computes the same ticks without agreeing on a start). Nothing here
reads the clock: callers pass ``now``.

Daylight-saving time (cron in a zone other than UTC) follows Debian cron, through
``cronsim``:

- An expression at a fixed wall-clock time (minute and hour fields both fixed, such as
  ``30 2 * * *``) fires once per local day. When spring-forward skips that time, it fires
  at the first wall-clock minute after the gap (03:00 in Europe/Berlin); when fall-back
  repeats it, it fires at the first occurrence only.
- Any other expression (``0 * * * *``, ``*/15 * * * *``, 6-field ones) is a pattern over
  elapsed time: each real hour fires once, so the repeated local hour of fall-back fires
  twice on the wall clock (two different instants) and the skipped one not at all.

Either way no instant fires twice and no day of a daily schedule is skipped.

After downtime, the ticks the engine could not fire on time are *late*; ``catch_up``
says what becomes of them (the on-time ticks always fire):

- ``none``: late ticks are skipped.
- ``one`` (default): when no tick is on time, the latest late tick fires once, standing
  for all of them; the others are skipped.
- ``all``: late ticks fire, at most :data:`CATCH_UP_BOUND` of them (the most recent);
  older ones are skipped.

One pass fires at most ``CATCH_UP_BOUND + 1`` ticks of a schedule: the most recent."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from skiplock.domain import limits
from skiplock.domain.errors import FieldError, ValidationError
from skiplock.domain.models import JSON

# At most this many late ticks fire after an outage under ``catch_up=all``.
CATCH_UP_BOUND = 100
# Ticks enumerated one by one before jumping to the most recent ones: a one-second cron
# after a day of downtime would otherwise walk 86,400 ticks to fire a hundred.
_SCAN_LIMIT = 10_000
# A tick may be this late and still count as on time, unless the caller says otherwise.
# Longer than the firing lag of a large backlog (10,000 ticks due at once fire within about
# 20 s on a small machine, docs/BENCHMARKS.md) and than the lease a dead instance leaves
# (30 s), so neither makes a tick "missed"; short enough that real downtime does.
DEFAULT_GRACE_S = 60.0
EVERY_S = limits.Bounds(1, 366 * 86_400)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CRON_MAX_CHARS = 128
_HORIZON = timedelta(days=366 * 5)  # a tick further away than this is "never"


class CatchUp(StrEnum):
    NONE = "none"
    ONE = "one"
    ALL = "all"


def _invalid(field_name: str, message: str) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", fields=[FieldError(field_name, message)])


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise _invalid("name", "1-64 letters, digits, '_', '.', ':' or '-', starting alnum")
    return name


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule ticks: ``cron`` in ``timezone``, or every ``every_s`` seconds."""

    cron: str | None = None
    every_s: int | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_s is None):
            raise ValidationError(
                "give exactly one of cron and every_s",
                fields=[
                    FieldError("cron", "give cron or every_s, not both or neither"),
                    FieldError("every_s", "give cron or every_s, not both or neither"),
                ],
            )
        if self.every_s is not None and not EVERY_S.holds(self.every_s):
            raise _invalid(
                "every_s", f"must be whole seconds from {EVERY_S.low:.0f} to {EVERY_S.high:.0f}"
            )
        zone_of(self.timezone)
        if self.cron is not None:
            _check_cron(self.cron)
            if next_ticks(self, _EPOCH + timedelta(days=365 * 56), 1) == []:
                raise _invalid("cron", "never fires")

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.timezone)


@cache
def zone_of(name: str) -> tzinfo:
    """The IANA zone ``name``; ValidationError naming ``timezone`` when unknown."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _invalid("timezone", f"unknown IANA time zone {name!r}") from None


def _check_cron(expr: str) -> None:
    if len(expr) > _CRON_MAX_CHARS or len(expr.split()) not in (5, 6):
        raise _invalid("cron", "5 fields (minute hour day month weekday), or 6 with seconds first")
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise _invalid("cron", str(exc) or "not a cron expression") from None
    except (ValueError, IndexError, KeyError):
        raise _invalid("cron", "not a cron expression") from None


def _after_cron(timing: Timing, after: datetime) -> CronSim:
    assert timing.cron is not None
    local = after.astimezone(timing.zone)
    return CronSim(timing.cron, local)


def next_ticks(timing: Timing, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` ticks strictly after ``after``, in UTC (fewer when the
    schedule stops firing within five years)."""
    if after.tzinfo is None:
        raise ValueError("pass an aware datetime")
    out: list[datetime] = []
    if timing.every_s is not None:
        step = timing.every_s
        k = int((after - _EPOCH).total_seconds() // step) + 1
        while len(out) < count:
            tick = _EPOCH + timedelta(seconds=k * step)
            if tick > after:
                out.append(tick)
            k += 1
        return out
    horizon = after + _HORIZON
    try:
        for local in _after_cron(timing, after):
            tick = local.astimezone(UTC)
            if tick > horizon:
                break
            if tick > after:  # cronsim works in whole seconds; ``after`` may not
                out.append(tick)
            if len(out) >= count:
                break
    except StopIteration:  # pragma: no cover - cronsim gives up after 50 years
        pass
    return out


def next_tick(timing: Timing, after: datetime) -> datetime | None:
    found = next_ticks(timing, after, 1)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Due:
    """What a firing pass does with a schedule: fire ``fire`` (oldest first), count
    ``skipped`` ticks as skipped, and remember ``next_at`` as the next unfired tick."""

    fire: list[datetime]
    skipped: int
    next_at: datetime | None


def due_ticks(
    timing: Timing,
    first: datetime,
    now: datetime,
    catch_up: CatchUp,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    bound: int = CATCH_UP_BOUND,
) -> Due:
    """The ticks from ``first`` (the earliest tick not yet fired) up to ``now``, sorted
    into those to fire and those to skip under ``catch_up``. A tick at most ``grace_s``
    old is on time and always fires. When more than the scan limit are due, only the
    most recent ones are enumerated and ``skipped`` counts what was enumerated."""
    ticks, next_at, passed_over = _ticks_until(timing, first, now, keep=max(bound, 1) + 1)
    on_time_from = now - timedelta(seconds=grace_s)
    on_time = [t for t in ticks if t >= on_time_from]
    late = [t for t in ticks if t < on_time_from]
    total_late = len(late) + passed_over
    if catch_up is CatchUp.NONE:
        fire_late: list[datetime] = []
    elif catch_up is CatchUp.ONE:
        fire_late = late[-1:] if not on_time else []
    else:
        fire_late = late[-bound:] if bound > 0 else []
    return Due(fire=fire_late + on_time, skipped=total_late - len(fire_late), next_at=next_at)


def _ticks_until(
    timing: Timing, first: datetime, now: datetime, *, keep: int
) -> tuple[list[datetime], datetime | None, int]:
    """The last ``keep`` ticks in ``[first, now]``, the first tick after ``now``, and
    how many earlier ticks in the range were passed over."""
    start = first - timedelta(microseconds=1)
    recent: deque[datetime] = deque(maxlen=keep)
    seen = 0
    jumped = False
    while True:
        batch = next_ticks(timing, start, 256)
        for tick in batch:
            if tick > now:
                return list(recent), tick, seen - len(recent)
            recent.append(tick)
            seen += 1
        if not batch:
            return list(recent), None, seen - len(recent)
        start = batch[-1]
        if seen >= _SCAN_LIMIT and not jumped:
            jumped = True
            anchor = _before_last(timing, now, keep)
            if anchor > start:
                if timing.every_s is not None:
                    seen += int((anchor - start).total_seconds() // timing.every_s)
                start = anchor


def _before_last(timing: Timing, now: datetime, keep: int) -> datetime:
    """A time before at least ``keep`` ticks up to ``now``, found by stepping back in
    widening windows (cron has no reverse that agrees with forward iteration across
    DST gaps)."""
    if timing.every_s is not None:
        return now - timedelta(seconds=timing.every_s * (keep + 1))
    window = timedelta(minutes=1)
    while True:
        start = now - window
        ticks = next_ticks(timing, start, keep + 1)
        if len([t for t in ticks if t <= now]) > keep or window > _HORIZON:
            return start
        window *= 4


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What a schedule's owner defines. Task options left ``None`` take the handler's
    default at each fire, as a submission that leaves them out does."""

    name: str
    tenant_id: int
    type: str
    timing: Timing
    payload: JSON = None
    priority: int = 0
    cost: int | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    catch_up: CatchUp = CatchUp.ONE
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule. ``next_fire_at`` is the earliest tick not yet fired (None
    when it never fires again); ``last_run_at`` the tick of its latest fire."""

    id: int
    tenant: str
    spec: ScheduleSpec
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None = None
    last_run_at: datetime | None = None
    last_task_id: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def next_run_at(self) -> datetime | None:
        """When it fires next, as users see it: never while paused."""
        return self.next_fire_at if self.spec.enabled else None
