"""Tenants and API keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from skiplock.adapters.sql import counts
from skiplock.adapters.sql.base import SqlBase
from skiplock.adapters.sql.schema import api_keys, sessions, tenants
from skiplock.domain.errors import Conflict, NotFound
from skiplock.domain.models import ApiKeyInfo, RateLimit, Role, Tenant, TenantState
from skiplock.ports import StoredKey

# A key's last use is recorded to this resolution: one write a minute at most per key.
KEY_USE_RESOLUTION = timedelta(minutes=1)


def _tenant(row: Row[Any]) -> Tenant:
    limit = None
    if row.rate_limit_cost is not None and row.rate_limit_window_s is not None:
        limit = RateLimit(cost=int(row.rate_limit_cost), window_s=int(row.rate_limit_window_s))
    return Tenant(
        id=int(row.id),
        name=str(row.name),
        weight=int(row.weight),
        state=TenantState(row.state),
        rate_limit=limit,
        created_at=row.created_at,
    )


class TenantOps(SqlBase):
    def create_tenant(
        self, name: str, *, weight: int, rate_limit: RateLimit | None, now: datetime
    ) -> Tenant:
        def work(conn: Connection, _tally: counts.Tally) -> Tenant:
            try:
                conn.execute(
                    insert(tenants).values(
                        name=name,
                        weight=weight,
                        state=TenantState.ACTIVE.value,
                        rate_limit_cost=rate_limit.cost if rate_limit else None,
                        rate_limit_window_s=rate_limit.window_s if rate_limit else None,
                        created_at=now,
                    )
                )
            except IntegrityError as exc:
                raise Conflict(f"tenant {name!r} already exists") from exc
            return self._get_tenant(conn, name=name)

        return self.write(work)

    def _get_tenant(
        self, conn: Connection, *, tenant_id: int | None = None, name: str | None = None
    ) -> Tenant:
        query = select(tenants)
        if tenant_id is not None:
            query = query.where(tenants.c.id == tenant_id)
        elif name is not None:
            query = query.where(tenants.c.name == name)
        else:
            raise ValueError("pass tenant_id or name")
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"tenant {name if name is not None else tenant_id!r} does not exist")
        return _tenant(row)

    def get_tenant(self, *, tenant_id: int | None = None, name: str | None = None) -> Tenant:
        return self.read(lambda c: self._get_tenant(c, tenant_id=tenant_id, name=name))

    def list_tenants(self) -> list[Tenant]:
        def work(conn: Connection) -> list[Tenant]:
            return [_tenant(r) for r in conn.execute(select(tenants).order_by(tenants.c.name))]

        return self.read(work)

    def update_tenant(
        self,
        tenant_id: int,
        *,
        weight: int | None = None,
        rate_limit: RateLimit | None = None,
        clear_rate_limit: bool = False,
        state: TenantState | None = None,
    ) -> Tenant:
        values: dict[str, Any] = {}
        if weight is not None:
            values["weight"] = weight
        if rate_limit is not None:
            values["rate_limit_cost"] = rate_limit.cost
            values["rate_limit_window_s"] = rate_limit.window_s
        elif clear_rate_limit:
            values["rate_limit_cost"] = None
            values["rate_limit_window_s"] = None
        if state is not None:
            values["state"] = state.value

        def work(conn: Connection, _tally: counts.Tally) -> Tenant:
            if values:
                done = conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(values))
                if done.rowcount == 0:
                    raise NotFound(f"tenant {tenant_id} does not exist")
            return self._get_tenant(conn, tenant_id=tenant_id)

        return self.write(work)

    # --- keys ----------------------------------------------------------------------------
    def _key_info(self, conn: Connection, row: Row[Any]) -> ApiKeyInfo:
        tenant = None if row.tenant_id is None else self.tenant_name(conn, int(row.tenant_id))
        return ApiKeyInfo(
            id=int(row.id),
            prefix=str(row.prefix),
            role=Role(row.role),
            tenant=tenant,
            name=str(row.name),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )

    def create_api_key(
        self,
        *,
        role: Role,
        tenant_id: int | None,
        name: str,
        prefix: str,
        secret_hash: str,
        now: datetime,
    ) -> ApiKeyInfo:
        def work(conn: Connection, _tally: counts.Tally) -> ApiKeyInfo:
            try:
                conn.execute(
                    insert(api_keys).values(
                        prefix=prefix,
                        secret_hash=secret_hash,
                        role=role.value,
                        tenant_id=tenant_id,
                        name=name,
                        created_at=now,
                    )
                )
            except IntegrityError as exc:
                raise Conflict(f"an API key with prefix {prefix!r} already exists") from exc
            row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).one()
            return self._key_info(conn, row)

        return self.write(work)

    def _stored_key(self, conn: Connection, row: Row[Any]) -> StoredKey:
        return StoredKey(
            info=self._key_info(conn, row),
            tenant_id=None if row.tenant_id is None else int(row.tenant_id),
            secret_hash=str(row.secret_hash),
        )

    def find_api_key(self, prefix: str) -> StoredKey | None:
        def work(conn: Connection) -> StoredKey | None:
            row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
            return None if row is None else self._stored_key(conn, row)

        return self.read(work)

    def touch_api_key(self, key_id: int, *, now: datetime) -> None:
        def work(conn: Connection, _tally: counts.Tally) -> None:
            stale = now - KEY_USE_RESOLUTION
            conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < stale),
                )
                .values(last_used_at=now)
            )

        self.write(work)

    # --- dashboard sessions -------------------------------------------------------------
    def create_session(
        self,
        *,
        token_hash: str,
        key_id: int,
        now: datetime,
        expires_at: datetime,
        keep: int | None = None,
    ) -> None:
        def work(conn: Connection, _tally: counts.Tally) -> None:
            conn.execute(
                insert(sessions).values(
                    token_hash=token_hash, key_id=key_id, created_at=now, expires_at=expires_at
                )
            )
            if keep is None:
                return
            # Newest first; everything past ``keep`` ends (MySQL cannot LIMIT inside IN).
            older = conn.execute(
                select(sessions.c.token_hash)
                .where(sessions.c.key_id == key_id)
                .order_by(sessions.c.created_at.desc(), sessions.c.token_hash)
                .offset(keep)
            ).scalars()
            evicted = [h for h in older if h != token_hash]
            if evicted:
                conn.execute(delete(sessions).where(sessions.c.token_hash.in_(evicted)))

        self.write(work)

    def find_session(self, token_hash: str, *, now: datetime) -> StoredKey | None:
        def work(conn: Connection) -> StoredKey | None:
            row = conn.execute(
                select(api_keys)
                .select_from(sessions.join(api_keys, api_keys.c.id == sessions.c.key_id))
                .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
            ).first()
            return None if row is None else self._stored_key(conn, row)

        return self.read(work)

    def delete_session(self, token_hash: str) -> bool:
        def work(conn: Connection, _tally: counts.Tally) -> bool:
            gone = conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
            return bool(gone.rowcount)

        return self.write(work)

    def prune_sessions(self, *, now: datetime) -> int:
        def work(conn: Connection, _tally: counts.Tally) -> int:
            return int(conn.execute(delete(sessions).where(sessions.c.expires_at <= now)).rowcount)

        return self.write(work)

    def list_api_keys(self, *, tenant_id: int | None = None) -> list[ApiKeyInfo]:
        def work(conn: Connection) -> list[ApiKeyInfo]:
            query = select(api_keys).order_by(api_keys.c.id)
            if tenant_id is not None:
                query = query.where(api_keys.c.tenant_id == tenant_id)
            return [self._key_info(conn, r) for r in conn.execute(query)]

        return self.read(work)

    def revoke_api_key(self, key_id: int, *, now: datetime) -> ApiKeyInfo:
        def work(conn: Connection, _tally: counts.Tally) -> ApiKeyInfo:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise NotFound(f"API key {key_id} does not exist")
            return self._key_info(conn, row)

        return self.write(work)
