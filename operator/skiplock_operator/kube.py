"""The few Kubernetes API calls the reconciler makes besides kopf's own.

It speaks plain JSON over aiohttp with the credentials kopf logged in with (the login
handler hands them over), so kopf and the reconciler act as one identity, and a re-login
after a 401 refreshes both. Objects are plain dicts: we read a handful of fields only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import tempfile
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import kopf

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Kube(Protocol):
    """What the reconciler needs from the cluster; tests may pass a fake."""

    async def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None: ...

    async def list_hpas(self, namespace: str) -> list[dict[str, Any]]: ...

    async def list_scaled_objects(self, namespace: str) -> list[dict[str, Any]]: ...

    async def read_secret_entries(
        self, namespace: str, name: str, entries: Collection[str]
    ) -> dict[str, str]: ...

    async def list_taskqueues(self, namespaces: Sequence[str]) -> list[dict[str, Any]]: ...

    async def list_pods(
        self, namespace: str, match_labels: Mapping[str, str]
    ) -> list[dict[str, Any]]: ...

    async def annotate_pod(
        self, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None: ...

    async def patch_taskqueue_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None: ...


def _q(segment: str) -> str:
    return quote(segment, safe="")


class KubeApi:
    """Kube over HTTP. ``use()`` swaps credentials (called from the kopf login handler)."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self._info: kopf.ConnectionInfo | None = None
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tempfiles: list[str] = []
        self._session_stale = True

    def use(self, info: kopf.ConnectionInfo) -> None:
        self._info = info
        self._session_stale = True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for path in self._tempfiles:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._tempfiles.clear()

    # --- the calls -----------------------------------------------------------------------

    async def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get(f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments/{_q(name)}")

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        # The scale subresource: RBAC can grant it without granting edits to the pod template.
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments/{_q(name)}/scale"
        await self._request("PATCH", path, body={"spec": {"replicas": replicas}})

    async def list_hpas(self, namespace: str) -> list[dict[str, Any]]:
        path = f"/apis/autoscaling/v2/namespaces/{_q(namespace)}/horizontalpodautoscalers"
        return await self._list(path)

    async def list_scaled_objects(self, namespace: str) -> list[dict[str, Any]]:
        # 404 when KEDA is not installed: then nothing can own replicas through it.
        return await self._list(f"/apis/keda.sh/v1alpha1/namespaces/{_q(namespace)}/scaledobjects")

    async def read_secret_entries(
        self, namespace: str, name: str, entries: Collection[str]
    ) -> dict[str, str]:
        """Only the named entries that the Secret has; every other entry is left unread."""
        secret = await self._get(f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}")
        if secret is None:
            raise KubeError(f"Secret {namespace}/{name} not found", status=404)
        data = secret.get("data") or {}
        string_data = secret.get("stringData") or {}
        found = {}
        for entry in entries:
            if entry in data:
                found[entry] = base64.b64decode(data[entry]).decode().strip()
            elif entry in string_data:
                found[entry] = str(string_data[entry]).strip()
        return found

    async def list_taskqueues(self, namespaces: Sequence[str]) -> list[dict[str, Any]]:
        """TaskQueues in these namespaces (every namespace when empty)."""
        base = "/apis/skiplock.dev/v1alpha1"
        if not namespaces:
            return await self._list(f"{base}/taskqueues", missing_ok=False)
        found = []
        for namespace in namespaces:
            found += await self._list(
                f"{base}/namespaces/{_q(namespace)}/taskqueues", missing_ok=False
            )
        return found

    async def list_pods(
        self, namespace: str, match_labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        query = f"?labelSelector={quote(selector, safe='')}" if selector else ""
        return await self._list(f"/api/v1/namespaces/{_q(namespace)}/pods{query}", missing_ok=False)

    async def annotate_pod(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        path = f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}"
        await self._request("PATCH", path, body={"metadata": {"annotations": dict(annotations)}})

    async def patch_taskqueue_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        path = (
            f"/apis/skiplock.dev/v1alpha1/namespaces/{_q(namespace)}/taskqueues/{_q(name)}/status"
        )
        await self._request("PATCH", path, body={"status": dict(patch)})

    # --- plumbing ------------------------------------------------------------------------

    async def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self._request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def _list(self, path: str, *, missing_ok: bool = True) -> list[dict[str, Any]]:
        body = await self._get(path) if missing_ok else await self._request("GET", path)
        items = (body or {}).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    async def _request(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        info = self._info
        if info is None:
            raise KubeError("not logged in to Kubernetes yet")
        session = await self._ensure_session(info)
        headers = {"Accept": "application/json", **self._auth_headers(info)}
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = MERGE_PATCH
            data = json.dumps(body).encode()
        url = info.server.rstrip("/") + path
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=self._timeout
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(f"{method} {path}: {exc!r}") from exc
        if status >= 400:
            try:
                message = str(json.loads(text).get("message", text[:200]))
            except (ValueError, AttributeError):
                message = text[:200]
            raise KubeError(f"{method} {path} -> {status}: {message}", status=status)
        try:
            result = json.loads(text) if text else {}
        except ValueError as exc:
            raise KubeError(f"{method} {path}: response is not JSON") from exc
        return result if isinstance(result, dict) else {}

    async def _ensure_session(self, info: kopf.ConnectionInfo) -> aiohttp.ClientSession:
        if self._session is not None and not self._session_stale:
            return self._session
        if self._session is not None:
            await self._session.close()
        connector = aiohttp.TCPConnector(ssl=self._ssl_context(info))
        self._session = aiohttp.ClientSession(connector=connector, trust_env=info.trust_env)
        self._session_stale = False
        return self._session

    def _ssl_context(self, info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
        if not info.server.startswith("https"):
            return False
        if info.insecure:
            return False
        cadata = info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data
        if cadata is not None and "-----BEGIN" not in cadata:
            cadata = base64.b64decode(cadata).decode()
        context = ssl.create_default_context(
            cafile=os.fsdecode(info.ca_path) if info.ca_path else None, cadata=cadata
        )
        cert = self._as_file(info.certificate_path, info.certificate_data)
        key = self._as_file(info.private_key_path, info.private_key_data)
        if cert is not None:
            context.load_cert_chain(certfile=cert, keyfile=key)
        return context

    def _as_file(self, path: Any, data: str | bytes | None) -> str | None:
        if path:
            return os.fsdecode(path)
        if not data:
            return None
        raw = data.encode() if isinstance(data, str) else data
        if b"-----BEGIN" not in raw:
            raw = base64.b64decode(raw)
        with tempfile.NamedTemporaryFile("wb", delete=False, suffix=".pem") as handle:
            handle.write(raw)
        self._tempfiles.append(handle.name)
        return handle.name

    @staticmethod
    def _auth_headers(info: kopf.ConnectionInfo) -> dict[str, str]:
        if info.token:
            return {"Authorization": f"{info.scheme or 'Bearer'} {info.token}"}
        if info.username and info.password is not None:
            pair = f"{info.username}:{info.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}
