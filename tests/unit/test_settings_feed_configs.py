"""Every service's config is fed by the settings: each field without a default of its own
(the settings hold the one default) takes its setting's value, so a setting changed in
the environment reaches the service. A config field added without a setting, or a
setting the config ignores, fails here. Environment variable names are public and stay
``SKIPLOCK_<field>``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from skiplock.api.context import ApiConfig
from skiplock.services.maintenance import MaintenanceConfig
from skiplock.services.submissions import SubmitRules
from skiplock.services.tasks import TaskServiceConfig
from skiplock.services.worker import WorkerConfig
from skiplock.settings import (
    ApiSettings,
    MaintenanceSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
)

# Each setting below set to a value unlike its default, as the environment would.
ENVIRONMENT = {
    "SKIPLOCK_MAX_BODY_BYTES": "2000000",
    "SKIPLOCK_MAX_TASK_BODY_BYTES": "900000",
    "SKIPLOCK_MAX_JSON_VALUES": "12345",
    "SKIPLOCK_SSE_MAX_CONNECTIONS": "77",
    "SKIPLOCK_SSE_MAX_PER_TENANT": "7",
    "SKIPLOCK_SSE_ADMIN_RESERVE": "3",
    "SKIPLOCK_SSE_RECHECK_S": "4.5",
    "SKIPLOCK_SSE_HEARTBEAT_S": "6.5",
    "SKIPLOCK_DB_TIMEOUT_S": "2.5",
    "SKIPLOCK_SECURE_COOKIES": "true",
    "SKIPLOCK_SESSION_TTL_S": "600",
    "SKIPLOCK_MAX_SESSIONS_PER_KEY": "4",
    "SKIPLOCK_ANALYTICS_PER_CALLER": "5",
    "SKIPLOCK_API_DOCS": "true",
    "SKIPLOCK_DEMO": "true",
    "SKIPLOCK_MAX_PAYLOAD_BYTES": "5000",
    "SKIPLOCK_DEFAULT_MAX_ATTEMPTS": "9",
    "SKIPLOCK_DEFAULT_TIMEOUT_S": "42",
    "SKIPLOCK_MAX_BATCH": "55",
    "SKIPLOCK_RATE_LIMIT_FAIL_OPEN": "false",
    "SKIPLOCK_WORKERS": "13",
    "SKIPLOCK_LEASE_S": "21",
    "SKIPLOCK_RETRY_BASE_S": "0.75",
    "SKIPLOCK_POLL_INTERVAL_S": "0.3",
    "SKIPLOCK_CLAIM_BATCH": "17",
    "SKIPLOCK_COMPLETE_BATCH": "19",
    "SKIPLOCK_COMPLETE_FLUSH_S": "0.02",
    "SKIPLOCK_MAINTENANCE_INTERVAL_S": "2.5",
    "SKIPLOCK_RETENTION_S": "3600",
    "SKIPLOCK_PRUNE_BATCH": "33",
}

# config field -> the setting that feeds it, for every config field without a default
# (fields with a default are internal constants, not settings).
FED: dict[type[Any], dict[str, str]] = {
    ApiConfig: {
        "max_body_bytes": "max_body_bytes",
        "max_task_body_bytes": "max_task_body_bytes",
        "max_json_values": "max_json_values",
        "sse_max_connections": "sse_max_connections",
        "sse_max_per_tenant": "sse_max_per_tenant",
        "sse_admin_reserve": "sse_admin_reserve",
        "sse_recheck_s": "sse_recheck_s",
        "sse_heartbeat_s": "sse_heartbeat_s",
        "db_timeout_s": "db_timeout_s",
        "secure_cookies": "secure_cookies",
        "session_ttl_s": "session_ttl_s",
        "max_sessions_per_key": "max_sessions_per_key",
        "analytics_per_caller": "analytics_per_caller",
        "api_docs": "api_docs",
        "demo": "demo",
    },
    SubmitRules: {
        "max_payload_bytes": "max_payload_bytes",
        "default_max_attempts": "default_max_attempts",
        "default_timeout_s": "default_timeout_s",
    },
    TaskServiceConfig: {
        "max_batch": "max_batch",
        "limiter_timeout_s": "db_timeout_s",
        "rate_limit_fail_open": "rate_limit_fail_open",
    },
    WorkerConfig: {
        "slots": "workers",
        "lease_s": "lease_s",
        "retry_base_s": "retry_base_s",
        "poll_interval_s": "poll_interval_s",
        "claim_batch": "claim_batch",
        "complete_batch": "complete_batch",
        "complete_flush_s": "complete_flush_s",
    },
    MaintenanceConfig: {
        "interval_s": "maintenance_interval_s",
        "retry_base_s": "retry_base_s",
        "retention_s": "retention_s",
        "prune_batch": "prune_batch",
    },
}
# Fields without a default that are not settings: values the composition root knows.
GIVEN = {(WorkerConfig, "worker_id"), (TaskServiceConfig, "rules")}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return Settings()


def configs(settings: Settings) -> dict[type[Any], Any]:
    """The configs as the composition root (wiring.py) builds them."""
    return {
        ApiConfig: ApiConfig.of(settings, db_timeout_s=settings.db_timeout_s),
        SubmitRules: SubmitRules.of(settings),
        TaskServiceConfig: TaskServiceConfig.of(settings),
        WorkerConfig: WorkerConfig.of(settings, worker_id="host-1:abc"),
        MaintenanceConfig: MaintenanceConfig.of(settings, retry_base_s=settings.retry_base_s),
    }


def test_the_environment_changes_every_setting_a_config_reads(settings: Settings) -> None:
    defaults = Settings.model_construct()
    for fed in FED.values():
        for setting in fed.values():
            assert getattr(settings, setting) != getattr(defaults, setting), setting


def test_every_config_field_takes_its_settings_value(settings: Settings) -> None:
    built = configs(settings)
    for config, fed in FED.items():
        for field, setting in fed.items():
            assert getattr(built[config], field) == getattr(settings, setting), (config, field)


def test_every_config_field_without_a_default_is_a_setting() -> None:
    for config, fed in FED.items():
        required = {
            f.name
            for f in dataclasses.fields(config)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert required - {name for c, name in GIVEN if c is config} == set(fed), config


def test_settings_are_grouped_by_role_and_declared_once() -> None:
    groups = (ApiSettings, WorkerSettings, MaintenanceSettings, RedisSettings)
    for group in groups:
        assert issubclass(Settings, group)
    declared = [
        name for group in Settings.__mro__[1:] for name in vars(group).get("__annotations__", {})
    ]
    fields = [name for name in declared if name in Settings.model_fields]
    assert sorted(fields) == sorted(Settings.model_fields), "every setting is in a group"
    assert len(fields) == len(set(fields)), "a setting is declared in two groups"
