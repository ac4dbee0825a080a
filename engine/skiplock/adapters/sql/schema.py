"""Tables and indexes (their versioned migrations: migrations.py).

Terminal tasks stay in ``tasks`` until the cleaner prunes them; every hot query leads
with columns that exclude them (``state``), so they never slow the claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY, MySQL wants BIGINT for the queue.
BigId = BigInteger().with_variant(Integer(), "sqlite")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC with microseconds; hands back UTC-aware datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; pass UTC-aware values")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class JSONText(TypeDecorator[Any]):
    """JSON serialised to text, so both dialects store it the same way."""

    impl = LongText
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


metadata = MetaData()

schema_version = Table(
    "skiplock_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("weight", Integer, nullable=False, default=1),
    Column("state", String(16), nullable=False),
    Column("rate_limit_cost", Integer, nullable=True),
    Column("rate_limit_window_s", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    mysql_engine="InnoDB",
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("tenant_id", BigInteger, nullable=True),
    Column("name", String(128), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    # Refreshed at most once a minute per key (tenant_ops.touch_api_key).
    Column("last_used_at", UTCDateTime, nullable=True),
    mysql_engine="InnoDB",
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, nullable=False),
    Column("type", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority", SmallInteger, nullable=False, default=0),
    Column("cost", Integer, nullable=False, default=1),
    # ``attempt`` counts claims and is the fencing token: it only ever grows.
    # ``attempt_base`` moves up when an attempt must not be charged (graceful release,
    # manual requeue), so the attempts used are ``attempt - attempt_base``.
    Column("attempt", Integer, nullable=False, default=0),
    Column("attempt_base", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("payload", JSONText, nullable=True),
    Column("result", JSONText, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("idempotency_key", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("lease_owner", String(160), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    # The last manual requeue: when, and by whom (role and key prefix). Attempts up to
    # ``attempt_base`` ran before it.
    Column("requeued_at", UTCDateTime, nullable=True),
    Column("requeued_by", String(160), nullable=True),
    UniqueConstraint("tenant_id", "idempotency_key", name="ux_tasks_idempotency"),
    mysql_engine="InnoDB",
)

# The claim: WHERE tenant_id=? AND state=? ORDER BY priority DESC, id — equality prefix,
# then exactly the ORDER BY, so InnoDB reads (and locks) only the rows it returns.
Index("ix_tasks_claim", tasks.c.tenant_id, tasks.c.state, tasks.c.priority.desc(), tasks.c.id)
# Depth by tenant and state, tenants with ready work, oldest queued age.
# Type last: per-type counts of active tasks are answered from the index alone.
Index("ix_tasks_state_tenant", tasks.c.state, tasks.c.tenant_id, tasks.c.run_at, tasks.c.type)
# The promoter: due scheduled/retrying tasks.
Index("ix_tasks_due", tasks.c.state, tasks.c.run_at)
# The rescuer: expired leases (only running tasks hold one).
Index("ix_tasks_lease", tasks.c.lease_expires_at)
# Listing newest first, by state or by tenant.
Index("ix_tasks_state_id", tasks.c.state, tasks.c.id)
Index("ix_tasks_tenant_id", tasks.c.tenant_id, tasks.c.id)
# The cleaner and the analytics windows.
# Covering for completions per window and bucket (no row lookups); the cleaner leads
# with finished_at too.
Index("ix_tasks_finished", tasks.c.finished_at, tasks.c.state, tasks.c.tenant_id)

task_attempts = Table(
    "task_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(160), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
    # A failed attempt's traceback, bounded (domain.failures.MAX_TRACEBACK_CHARS).
    Column("traceback", Text, nullable=True),
    UniqueConstraint("task_id", "attempt", name="ux_task_attempts"),
    mysql_engine="InnoDB",
)

# Covering indexes for the analytics windows: submissions by time, state, tenant and type;
# failed attempts by time and outcome. A window's figures then come from index ranges,
# never from a primary-key lookup per row (bench/scale.py measured that at 10^6 rows).
ix_tasks_created = Index(
    "ix_tasks_created", tasks.c.created_at, tasks.c.state, tasks.c.tenant_id, tasks.c.type
)
# Run-time order (the list sorted by when tasks are due), with no state or with a tenant
# only: the rows in order, not every row sorted. Added by migration 10. run_at changes at
# submission, retry, release and run-now, never on a claim or a final completion.
ix_tasks_run = Index("ix_tasks_run", tasks.c.run_at, tasks.c.id)
ix_tasks_tenant_run = Index("ix_tasks_tenant_run", tasks.c.tenant_id, tasks.c.run_at, tasks.c.id)
ix_attempts_finished = Index(
    "ix_attempts_finished",
    task_attempts.c.finished_at,
    task_attempts.c.outcome,
    task_attempts.c.task_id,
)

# Active tasks per (tenant, type, state), kept by every transaction that changes them
# (engine/skiplock/adapters/sql/counts.py); each key is spread over a few ``shard`` rows.
task_counts = Table(
    "task_counts",
    metadata,
    Column("tenant_id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(128), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("shard", SmallInteger, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    mysql_engine="InnoDB",
)

# Dashboard sign-ins: the browser holds a random token, the table its SHA-256 digest and
# the key it was opened with. Signing out deletes the row on every instance at once.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_sessions_expires", "expires_at"),
    # A key's sessions, oldest first: the ones evicted past the per-key bound.
    Index("ix_sessions_key", "key_id", "created_at"),
    mysql_engine="InnoDB",
)

# Task types workers have announced, with their handlers' defaults: API instances
# accept a type found here without importing the code that handles it
# (engine/skiplock/services/task_types.py). Rows are never deleted by the engine.
task_types = Table(
    "task_types",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("max_attempts", Integer, nullable=True),
    Column("timeout_s", Float, nullable=True),
    Column("cost", Integer, nullable=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    mysql_engine="InnoDB",
)

# Periodic tasks (engine/skiplock/services/schedules.py). ``next_fire_at`` is the earliest
# tick not yet fired; a firing pass leases due rows (``lease_owner``/``lease_until``)
# so one instance at a time works on a schedule, and ``schedule_fires`` makes each tick
# fire once whatever happens to a lease.
schedules = Table(
    "schedules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("tenant_id", BigInteger, nullable=False),
    Column("type", String(128), nullable=False),
    Column("payload", JSONText, nullable=True),
    Column("cron", String(128), nullable=True),
    Column("every_s", BigInteger, nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("cost", Integer, nullable=True),
    Column("max_attempts", Integer, nullable=True),
    Column("timeout_s", Float, nullable=True),
    Column("catch_up", String(8), nullable=False),
    Column("enabled", SmallInteger, nullable=False),
    Column("next_fire_at", UTCDateTime, nullable=True),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("last_task_id", BigInteger, nullable=True),
    Column("lease_owner", String(160), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The firing scan: enabled schedules by their next tick.
    Index("ix_schedules_due", "enabled", "next_fire_at"),
    Index("ix_schedules_tenant", "tenant_id", "name"),
    mysql_engine="InnoDB",
)

# One row per fired tick: the primary key is what makes a tick fire once across every
# instance. The task insert and this row commit in one transaction; the task table and
# its hot path are untouched (a task's schedule is read from here by task id).
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("schedule_id", BigInteger, primary_key=True, autoincrement=False),
    Column("fire_at", UTCDateTime, primary_key=True),
    Column("schedule", String(64), nullable=False),  # the schedule's name when it fired
    Column("task_id", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_schedule_fires_task", "task_id"),
    Index("ix_schedule_fires_created", "created_at"),
    mysql_engine="InnoDB",
)

DEFAULT_TENANT = "default"
