"""The one place that reads the environment. Every setting is ``SKIPLOCK_<NAME>``."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["api", "worker", "maintenance"]
ALL_ROLES: tuple[Role, ...] = ("api", "worker", "maintenance")


class ServerSettings(BaseModel):
    """How the process serves HTTP, logs and starts."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics here only (not on port); unset: /metrics on port",
    )
    root_path: str = Field(
        "",
        pattern=r"^(/[A-Za-z0-9._~-]+)*$",
        description="URL prefix a proxy serves the engine under and strips (e.g. /skiplock)",
    )
    http_header_timeout_s: float = Field(
        10.0, gt=0, description="time a client has to send a request's headers"
    )
    http_keepalive_s: int = Field(
        5, ge=1, description="how long an idle kept-alive connection stays open (seconds)"
    )
    roles: str = "all"
    instance_id: str | None = None
    log_json: bool = False
    log_level: str = "INFO"
    startup_timeout_s: float = Field(
        120.0,
        gt=0,
        description="how long serve and migrate wait for the database, Redis and the "
        "schema before giving up with exit status 1",
    )
    admin_key: str | None = None
    reader_key: str | None = Field(
        None, description="bootstraps this read-only key at start (stats, monitoring)"
    )


class DatabaseSettings(BaseModel):
    """The task store."""

    database_url: str = "sqlite:///skiplock.db"
    db_timeout_s: float = Field(5.0, gt=0)
    migrate_on_start: bool = Field(
        True,
        description="serve applies migrations at start; false: it waits for the schema "
        "version it needs (`skiplock migrate` applies it, e.g. a deploy-time job)",
    )


class RedisSettings(BaseModel):
    """Shared state across instances (rate limits, the worker registry, events,
    wake-ups); unset ``redis_url``: kept in process."""

    redis_url: str | None = None
    redis_prefix: str = Field("skiplock", pattern=r"^[A-Za-z0-9_:.-]{1,64}$")
    event_stream_maxlen: int = Field(100_000, ge=100)
    registry_ttl_s: float = Field(10.0, gt=0)
    rate_limit_fail_open: bool = True


class ApiSettings(BaseModel):
    """The API role: submissions, request limits, live streams, the dashboard's sign-ins
    and analytics."""

    default_max_attempts: int = Field(3, ge=1, le=100)
    default_timeout_s: float = Field(300.0, gt=0)
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=64 * 1024, description="a batch's request body (the largest)"
    )
    max_task_body_bytes: int | None = Field(
        None,
        ge=4096,
        description="any other request body; unset: three times the payload limit plus "
        "64 KiB, room for a payload at the limit written with \\u escapes",
    )
    max_json_values: int = Field(
        200_000,
        ge=1000,
        description="JSON values one request body may hold, counted before it is parsed",
    )
    max_batch: int = Field(1000, ge=1, le=10000)
    sse_max_connections: int = Field(200, ge=1, description="open event streams per instance")
    sse_max_per_tenant: int = Field(
        20, ge=1, description="open event streams one tenant (or non-tenant key) may hold"
    )
    sse_admin_reserve: int = Field(
        10, ge=0, description="event stream slots per instance that only admin keys may use"
    )
    sse_recheck_s: float = Field(
        15.0, gt=0, description="how often an open event stream checks its key or session again"
    )
    sse_heartbeat_s: float = Field(15.0, gt=0)
    secure_cookies: bool = Field(
        False,
        description="always mark the session cookie Secure (else: when the request came "
        "over HTTPS, directly or as a trusted proxy's X-Forwarded-Proto says)",
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="comma-separated addresses or networks whose X-Forwarded-Proto and "
        "X-Forwarded-For are believed; '*' for any, empty for none",
    )
    session_ttl_s: float = Field(
        12 * 3600.0, ge=1, le=30 * 86400, description="how long a dashboard sign-in lasts"
    )
    max_sessions_per_key: int = Field(
        20, ge=1, description="dashboard sign-ins one key may hold; the oldest end first"
    )
    analytics_threads: int = Field(
        2, ge=1, le=64, description="threads (and so database connections) for analytics"
    )
    analytics_per_caller: int = Field(
        2, ge=1, le=64, description="analytics computations one caller may run at once"
    )
    analytics_timeout_s: float = Field(
        10.0, gt=0, description="time limit of each analytics statement (503 past it)"
    )
    api_docs: bool = Field(
        False,
        description="serve the interactive API pages /docs and /redoc (scripts from a CDN, "
        "pinned); /openapi.json is always served",
    )
    demo: bool = Field(
        False,
        description="offer demo data: POST /api/demo/seed and /clear, and the dashboard's "
        "Demo data controls; off: those routes answer 404 and the controls are hidden",
    )

    @property
    def task_body_limit(self) -> int:
        return self.max_task_body_bytes or 3 * self.max_payload_bytes + 64 * 1024


class WorkerSettings(BaseModel):
    """The worker role: slots, handlers, leases, claims and completions."""

    workers: int = Field(8, ge=0, le=1024, description="worker slots per instance")
    handlers: str = Field(
        "", description="comma-separated modules whose @handler functions this instance runs"
    )
    handler_path: str = Field(
        "",
        description="directories to import handler modules from, separated like PYTHONPATH; "
        "the commands that load handlers search the working directory after these",
    )
    lease_s: float = Field(30.0, gt=0)
    retry_base_s: float = Field(2.0, ge=0)
    poll_interval_s: float = Field(1.0, gt=0)
    claim_batch: int = Field(100, ge=1, le=1000)
    complete_batch: int = Field(200, ge=1, le=5000)
    complete_flush_s: float = Field(0.005, ge=0)
    shutdown_grace_s: float = Field(25.0, ge=0)


class MaintenanceSettings(BaseModel):
    """The maintenance role: promoting due tasks, rescuing expired leases, pruning."""

    maintenance_interval_s: float = Field(1.0, gt=0)
    retention_s: float = Field(7 * 24 * 3600.0, ge=0)
    prune_batch: int = Field(1000, ge=1)
    # Schedules: how long a firing pass holds the schedules it works on (a dead
    # instance's wait before another fires them), and how late a tick may fire and still
    # count as on time under every catch-up policy.
    schedule_lease_s: float = Field(30.0, gt=0)
    schedule_grace_s: float = Field(60.0, ge=0)


class Settings(
    ServerSettings,
    DatabaseSettings,
    RedisSettings,
    ApiSettings,
    WorkerSettings,
    MaintenanceSettings,
    BaseSettings,
):
    """Engine configuration, read from ``SKIPLOCK_<NAME>`` (names are flat and public:
    DESIGN.md lists them, the Helm chart renders them). Each setting is declared once, in
    the group of the role that uses it, with its one default; the composition root
    (wiring.py) hands each service its group's values. Unset means embedded: SQLite and
    in-process shared state."""

    model_config = SettingsConfigDict(env_prefix="SKIPLOCK_", extra="ignore")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite", "mysql")):
            raise ValueError("SKIPLOCK_DATABASE_URL must be sqlite:///... or mysql+pymysql://...")
        return value

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port != 0:
            raise ValueError("SKIPLOCK_METRICS_PORT must differ from SKIPLOCK_PORT")
        return self

    @property
    def role_set(self) -> frozenset[Role]:
        if self.roles.strip() in ("", "all"):
            return frozenset(ALL_ROLES)
        out: set[Role] = set()
        for raw in self.roles.split(","):
            name = raw.strip()
            if name not in ALL_ROLES:
                raise ValueError(f"unknown role {name!r}; choose from all, {', '.join(ALL_ROLES)}")
            out.add(name)
        return frozenset(out)

    @property
    def instance_name(self) -> str:
        """The stable part of this instance's id (pod or host name plus port).

        The lease owner adds a per-start suffix, so a restarted process never shares an id
        with its previous incarnation yet can find that incarnation's leases by prefix."""
        return self.instance_id or f"{socket.gethostname()}-{self.port}"

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def handler_modules(self) -> list[str]:
        return [m.strip() for m in self.handlers.split(",") if m.strip()]

    @property
    def handler_paths(self) -> list[str]:
        return [p for p in self.handler_path.split(os.pathsep) if p.strip()]


# Where `skiplock admin-key create --save` and `make run` keep an admin key for the
# commands that talk to a running instance, relative to the working directory.
KEY_FILE = ".skiplock/admin-key"


class ShellSettings(BaseSettings):
    """How the ``skiplock task`` commands reach a running instance."""

    model_config = SettingsConfigDict(env_prefix="SKIPLOCK_", extra="ignore")

    url: str | None = Field(
        None, description="the instance's base URL; unset: http://127.0.0.1:SKIPLOCK_PORT"
    )
    port: int = Field(8080, ge=0, le=65535)
    api_key: str | None = Field(
        None, description="the key to send; unset: SKIPLOCK_ADMIN_KEY, else .skiplock/admin-key"
    )
    admin_key: str | None = None

    @property
    def base_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.port}"

    def key(self) -> str | None:
        """The key to send: SKIPLOCK_API_KEY, SKIPLOCK_ADMIN_KEY, else the saved one."""
        found = self.api_key or self.admin_key
        if found:
            return found.strip()
        try:
            with open(KEY_FILE, encoding="utf-8") as saved:
                return saved.read().strip() or None
        except OSError:
            return None


_by_environment: dict[tuple[tuple[str, str], ...], Settings] = {}


def from_environment() -> Settings:
    """The settings for the current ``SKIPLOCK_*`` environment, built once per distinct
    environment: for code outside the engine that asks on every call
    (``skiplock.enqueue``), where building them each time would cost milliseconds."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("SKIPLOCK_")))
    found = _by_environment.get(key)
    if found is None:
        found = _by_environment[key] = Settings()
    return found
