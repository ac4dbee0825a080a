"""Settings and argument handling shared by ``Client`` and ``AsyncClient``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from skiplock import __version__
from skiplock.client import _flow

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_WAIT_S = 5.0


def check_settings(url: str, *, timeout: float, max_wait_s: float) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the engine's URL starts with http:// or https://; got {url!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError("timeout must be a positive number of seconds")
    if not (max_wait_s >= 0 and math.isfinite(max_wait_s)):
        raise ValueError("max_wait_s must be zero or more seconds")
    return url.rstrip("/")


def headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    out = {"User-Agent": f"skiplock-python/{__version__}", "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    out.update(extra or {})
    return out


def submission(
    type_: str,
    payload: Any,
    *,
    tenant: str | None,
    priority: int | None,
    cost: int | None,
    max_attempts: int | None,
    timeout_s: float | None,
    delay_s: float | None,
    run_at: datetime | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    return _flow.task_body(
        type_,
        payload,
        {
            "tenant": tenant,
            "priority": priority,
            "cost": cost,
            "max_attempts": max_attempts,
            "timeout_s": timeout_s,
            "delay_s": delay_s,
            "run_at": run_at,
            "idempotency_key": idempotency_key,
        },
    )


def page_size(size: int) -> int:
    if not 1 <= size <= 500:
        raise ValueError("page_size is 1..500")
    return size
