"""The engine clients one TaskQueue uses, built from the operator's allowed URL and the
fixed entries of the Secret the TaskQueue names.

Least privilege at the point of use: reads (stats, workers, the tenant and schedule lists)
go with the ``reader-key`` entry; the ``admin-key`` entry is read only when there are
tenant settings to apply or schedules to keep, and sent only to change them. A Secret
without ``reader-key`` falls back to reading with the admin key, as installs made before
the reader role did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from skiplock_operator.engine_client import EngineClient
from skiplock_operator.kube import Kube, KubeError
from skiplock_operator.spec import ADMIN_KEY_ENTRY, READER_KEY_ENTRY

# (base URL, API key, timeout in seconds) -> a client
EngineFactory = Callable[[str, str, float], EngineClient]


def default_engine_factory(url: str, api_key: str, timeout_s: float) -> EngineClient:
    return EngineClient(url, api_key, timeout_s=timeout_s)


class AccessError(Exception):
    """The keys for the engine could not be had; the message is fit for a condition."""


@dataclass(frozen=True)
class Clients:
    reader: EngineClient  # reads; built from reader-key, else from admin-key
    admin: EngineClient | None  # tenant and schedule changes; None: not asked or absent
    reads_with_admin_key: bool


class EngineAccess:
    """Keeps one TaskQueue's clients between passes and rebuilds them when the URL, a key
    or the timeout changes (a rotated Secret takes effect on the next pass)."""

    def __init__(self, factory: EngineFactory = default_engine_factory) -> None:
        self._factory = factory
        self._clients: dict[str, tuple[tuple[str, str, float], EngineClient]] = {}

    async def clients(
        self,
        kube: Kube,
        *,
        namespace: str,
        secret: str,
        url: str,
        timeout_s: float,
        need_admin: bool,
    ) -> Clients:
        try:
            found = await kube.read_secret_entries(
                namespace, secret, (READER_KEY_ENTRY, ADMIN_KEY_ENTRY)
            )
        except KubeError as exc:
            raise AccessError(f"engine keys: {exc}") from exc
        reader_key = found.get(READER_KEY_ENTRY) or found.get(ADMIN_KEY_ENTRY)
        if not reader_key:
            raise AccessError(
                f"Secret {namespace}/{secret} has neither {READER_KEY_ENTRY!r} nor "
                f"{ADMIN_KEY_ENTRY!r}"
            )
        reader = await self._client("reader", url, reader_key, timeout_s)
        admin_key = found.get(ADMIN_KEY_ENTRY) if need_admin else None
        admin = await self._client("admin", url, admin_key, timeout_s) if admin_key else None
        if admin is None:
            await self._drop("admin")
        return Clients(reader, admin, reads_with_admin_key=READER_KEY_ENTRY not in found)

    def held(self, role: str) -> EngineClient | None:
        """The client last built for ``role`` ("reader", "admin"), if any."""
        found = self._clients.get(role)
        return None if found is None else found[1]

    async def close(self) -> None:
        for role in list(self._clients):
            await self._drop(role)

    async def _client(self, role: str, url: str, key: str, timeout_s: float) -> EngineClient:
        identity = (url, key, timeout_s)
        held = self._clients.get(role)
        if held is not None and held[0] == identity:
            return held[1]
        await self._drop(role)
        client = self._factory(url, key, timeout_s)
        self._clients[role] = (identity, client)
        return client

    async def _drop(self, role: str) -> None:
        held = self._clients.pop(role, None)
        if held is not None:
            await held[1].close()
