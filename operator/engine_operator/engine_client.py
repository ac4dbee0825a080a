"""The engine's admin HTTP API, as far as the operator uses it (see docs/API.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from engine_operator.tenants import EngineTenant, QueueStats, TenantChange


class EngineError(Exception):
    """A request to the engine failed; ``reason`` is fit for a condition or metric."""

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class EngineClient:
    """One client per engine URL and admin key. The key is sent as a bearer token and never
    logged; error messages carry the engine's JSON ``error``/``message`` only."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        *,
        timeout_s: float = 5.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_key}", "Accept": "application/json"}
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

    async def queue_stats(self) -> QueueStats:
        body = await self._request("GET", "/api/queue/stats")
        try:
            return QueueStats.from_json(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/queue/stats body: {exc}") from exc

    async def list_tenants(self) -> dict[str, EngineTenant]:
        body = await self._request("GET", "/api/tenants")
        try:
            return {t.name: t for t in map(EngineTenant.from_json, body.get("items") or [])}
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("BadResponse", f"unexpected /api/tenants body: {exc}") from exc

    async def apply(self, change: TenantChange) -> None:
        """PATCH the tenant; create it first when it is new, or when PATCH answers 404
        (someone deleted it since we listed)."""
        if change.create is not None:
            await self._create(change.create)
        if not change.patch:
            return
        path = f"/api/tenants/{quote(change.name, safe='')}"
        try:
            await self._request("PATCH", path, json_body=change.patch)
        except EngineError as exc:
            if exc.status != 404 or change.create is not None:
                raise
            await self._create({"name": change.name})
            await self._request("PATCH", path, json_body=change.patch)

    async def _create(self, body: Mapping[str, Any]) -> None:
        payload = {k: v for k, v in body.items() if v is not None}
        try:
            # The answer carries the new tenant's API key: deliberately dropped, never logged.
            await self._request("POST", "/api/tenants", json_body=payload)
        except EngineError as exc:
            if exc.status != 409:  # created concurrently: the PATCH that follows settles it
                raise

    async def _request(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        url = self.base_url + path
        try:
            async with self._session.request(
                method, url, json=json_body, headers=self._headers, timeout=self._timeout
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
