"""The one place that reads the environment. Every setting is ``SKIPLOCK_<NAME>``."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["api", "worker", "maintenance"]
ALL_ROLES: tuple[Role, ...] = ("api", "worker", "maintenance")


class Settings(BaseSettings):
    """Engine configuration. Unset means embedded: SQLite and in-process shared state."""

    model_config = SettingsConfigDict(env_prefix="SKIPLOCK_", extra="ignore")

    database_url: str = "sqlite:///skiplock.db"
    redis_url: str | None = None
    redis_prefix: str = Field("skiplock", pattern=r"^[A-Za-z0-9_:.-]{1,64}$")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    root_path: str = Field(
        "",
        pattern=r"^(/[A-Za-z0-9._~-]+)*$",
        description="URL prefix a proxy serves the engine under and strips (e.g. /skiplock)",
    )
    workers: int = Field(8, ge=0, le=1024, description="worker slots per instance")
    roles: str = "all"
    instance_id: str | None = None
    handlers: str = ""
    admin_key: str | None = None

    lease_s: float = Field(30.0, gt=0)
    retry_base_s: float = Field(2.0, ge=0)
    registry_ttl_s: float = Field(10.0, gt=0)

    default_max_attempts: int = Field(3, ge=1, le=100)
    default_timeout_s: float = Field(300.0, gt=0)
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=64 * 1024, description="any request body")
    max_batch: int = Field(1000, ge=1, le=10000)

    poll_interval_s: float = Field(1.0, gt=0)
    claim_batch: int = Field(100, ge=1, le=1000)
    complete_batch: int = Field(200, ge=1, le=5000)
    complete_flush_s: float = Field(0.005, ge=0)
    shutdown_grace_s: float = Field(25.0, ge=0)
    maintenance_interval_s: float = Field(1.0, gt=0)
    retention_s: float = Field(7 * 24 * 3600.0, ge=0)
    prune_batch: int = Field(1000, ge=1)

    rate_limit_fail_open: bool = True
    sse_max_connections: int = Field(200, ge=1)
    sse_heartbeat_s: float = Field(15.0, gt=0)
    event_stream_maxlen: int = Field(100_000, ge=100)
    log_json: bool = False
    log_level: str = "INFO"
    db_timeout_s: float = Field(5.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite", "mysql")):
            raise ValueError("SKIPLOCK_DATABASE_URL must be sqlite:///... or mysql+pymysql://...")
        return value

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
