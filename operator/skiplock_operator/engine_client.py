"""The engine's admin HTTP API, as far as the operator uses it (see docs/API.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from skiplock_operator.podcost import InstanceLoad, parse_workers
from skiplock_operator.schedules import EngineSchedule, ScheduleChange
from skiplock_operator.tenants import EngineTenant, QueueStats, TenantChange

# The engine's limit on tenants in one GET /api/queue/stats (MAX_STATS_TENANTS there).
STATS_TENANTS_PER_CALL = 100


class EngineError(Exception):
    """A request to the engine failed; ``reason`` is fit for a condition or metric."""

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class EngineClient:
    """One client per engine URL and key (a reader key for reads, the admin key for tenant
    changes). The key is sent as a bearer token and never logged; error messages carry
    the engine's JSON ``error``/``message`` only."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 5.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def queue_stats(self, tenants: Sequence[str] | None = None) -> QueueStats:
        """The whole engine's depth, or (``tenants``) just those tenants'. No tenants at
        all is no depth, not the whole engine's: nothing is asked."""
        if tenants is None:
            return await self._stats(None)
        # The engine takes at most STATS_TENANTS_PER_CALL names a request (they must fit
        # in one request line); a longer list is asked in parts.
        stats = QueueStats.empty()
        names = list(tenants)
        for i in range(0, len(names), STATS_TENANTS_PER_CALL):
            part = names[i : i + STATS_TENANTS_PER_CALL]
            stats = stats.merged(await self._stats([("tenant", t) for t in part]))
        return stats

    async def _stats(self, params: list[tuple[str, str]] | None) -> QueueStats:
        body = await self._request("GET", "/api/queue/stats", params=params)
        try:
            return QueueStats.from_json(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/queue/stats body: {exc}") from exc

    async def workers(self) -> list[InstanceLoad]:
        body = await self._request("GET", "/api/workers")
        try:
            return parse_workers(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/workers body: {exc!r}") from exc

    async def list_tenants(self) -> dict[str, EngineTenant]:
        body = await self._request("GET", "/api/tenants")
        try:
            return {t.name: t for t in map(EngineTenant.from_json, body.get("items") or [])}
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/tenants body: {exc}") from exc

    async def apply(self, change: TenantChange) -> None:
        """PATCH the tenant (it exists: the reconciler checked). Never creates one."""
        path = f"/api/tenants/{quote(change.name, safe='')}"
        await self._request("PATCH", path, json_body=change.patch)

    async def list_schedules(self) -> dict[str, EngineSchedule]:
        body = await self._request("GET", "/api/schedules")
        try:
            return {s.name: s for s in map(EngineSchedule.from_json, body.get("items") or [])}
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/schedules body: {exc!r}") from exc

    async def apply_schedule(self, change: ScheduleChange) -> None:
        """POST, PATCH or DELETE one schedule (the admin key: it names the tenant)."""
        if change.action == "create":
            await self._request("POST", "/api/schedules", json_body=change.body)
            return
        path = f"/api/schedules/{quote(change.name, safe='')}"
        if change.action == "update":
            await self._request("PATCH", path, json_body=change.body)
        else:
            await self._request("DELETE", path)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        url = self.base_url + path
        try:
            async with self._session.request(
                method,
                url,
                json=json_body,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EngineError("EngineUnreachable", f"{method} {path}: {exc!r}") from exc
        payload = _json_or_none(text)
        if status >= 400:
            reason = "EngineUnauthorized" if status in (401, 403) else "EngineError"
            detail = payload if isinstance(payload, dict) else {"message": text[:200]}
            error, text_message = detail.get("error", ""), detail.get("message", "")
            message = f"{method} {path} -> {status} {error}: {text_message}"
            raise EngineError(reason, message.strip(), status=status)
        if not isinstance(payload, dict):
            raise EngineError("BadResponse", f"{method} {path} -> {status}: not a JSON object")
        return payload


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
