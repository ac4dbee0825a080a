"""The API as Helm, kubectl and the controllers use it: JSON over HTTP to the emulated
API server, with the admin identity, plus reads of its stored objects."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from tests.k8s_e2e.apiserver import ADMIN_TOKEN, ApiServer

Manifest = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:300]}")
        self.status = status


class ApiClient:
    def __init__(self, api: ApiServer, url: str, *, namespace: str) -> None:
        self.api = api
        self.url = url.rstrip("/")
        self.namespace = namespace
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    async def close_client(self) -> None:
        await self._session.close()

    def path(self, manifest: Manifest, *, named: bool = True) -> str:
        group_version = manifest["apiVersion"]
        kind = manifest["kind"]
        for resource in self.api.resources:
            info = self.api.resources[resource]
            if info.kind == kind and f"{resource.group}/{resource.version}".lstrip("/") == (
                group_version
            ):
                base = "/api/v1" if resource.group == "" else f"/apis/{group_version}"
                namespace = manifest["metadata"].get("namespace") or self.namespace
                scope = f"/namespaces/{namespace}" if info.namespaced else ""
                name = f"/{manifest['metadata']['name']}" if named else ""
                return f"{base}{scope}/{resource.plural}{name}"
        raise LookupError(f"the API server does not serve {group_version} {kind}")

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self._session.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise ApiError(response.status, text)
            return json.loads(text) if text else None

    async def apply(self, manifest: Manifest) -> None:
        await self.request("POST", self.path(manifest, named=False), manifest)

    async def delete(self, manifest: Manifest) -> None:
        with contextlib.suppress(ApiError):  # already gone
            await self.request("DELETE", self.path(manifest))

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        for key in self.api.objects:
            _, namespace, found = key
            obj = self.api.objects[key]
            if obj.deleted or found != name or namespace not in (self.namespace, None):
                continue
            raw: dict[str, Any] = obj.raw
            if raw.get("kind") == kind and raw.get("apiVersion") == api_version:
                return raw
        return None

    def live(self, kind: str) -> list[dict[str, Any]]:
        found = []
        for key in self.api.objects:
            obj = self.api.objects[key]
            if not obj.deleted and obj.raw.get("kind") == kind:
                found.append(obj.raw)
        return found

    def lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        version = "v1"
        return self.get(version, kind, name) if namespace == self.namespace else None
