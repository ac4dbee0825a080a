"""Issuing API keys: the one implementation behind ``POST /api/keys``, ``skiplock key
create``, ``skiplock admin-key create``, ``skiplock tenant create`` and the bootstrap keys
from the environment, so every way in applies the same rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from skiplock import keys
from skiplock.domain.errors import Conflict, Invalid
from skiplock.domain.models import ApiKeyInfo, Role
from skiplock.ports import TaskStore


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str  # shown to the caller once; only its digest is stored
    info: ApiKeyInfo


def check_scope(role: Role, *, has_tenant: bool) -> None:
    """A tenant key belongs to exactly one tenant; admin and reader keys to none."""
    if role is Role.TENANT and not has_tenant:
        raise Invalid("a tenant key needs 'tenant'", field="tenant")
    if role is not Role.TENANT and has_tenant:
        article = "an" if role is Role.ADMIN else "a"
        raise Invalid(f"{article} {role.value} key has no tenant", field="tenant")


def check_name(name: str) -> None:
    """Names of keys made from the environment are reserved: rotating SKIPLOCK_ADMIN_KEY
    revokes older keys by that name, which must never hit a key someone issued."""
    if name in {bootstrap_name(role) for role in Role if role is not Role.TENANT}:
        raise Invalid(
            f"the name {name!r} is reserved for keys made from the environment", field="name"
        )


def issue_key(
    store: TaskStore, *, role: Role, tenant_id: int | None, name: str, now: datetime
) -> IssuedKey:
    """Create a random key with ``role``; the secret leaves this function only once."""
    check_scope(role, has_tenant=tenant_id is not None)
    check_name(name)
    key, parsed = keys.generate()
    info = store.create_api_key(
        role=role,
        tenant_id=tenant_id,
        name=name,
        prefix=parsed.prefix,
        secret_hash=parsed.secret_hash,
        now=now,
    )
    return IssuedKey(key, info)


class BootstrapKeyError(ValueError):
    """A key given in the environment cannot be made valid (malformed, or its prefix is
    already another key's)."""


def bootstrap_name(role: Role) -> str:
    """The name of keys made from the environment: reserved, so rotation can find them."""
    return keys.BOOTSTRAP_NAME if role is Role.ADMIN else f"{keys.BOOTSTRAP_NAME}-{role.value}"


def bootstrap_key(store: TaskStore, key: str, *, role: Role, now: datetime) -> list[ApiKeyInfo]:
    """Make ``key`` (from SKIPLOCK_ADMIN_KEY or SKIPLOCK_READER_KEY) a valid key of
    ``role``, idempotent across restarts and safe when instances start together, and
    retire the bootstrap keys of that role it replaces; returns the keys it revoked.

    Rotation: a start with a new value revokes every *older* bootstrap key of the role,
    never a newer one, so a rolling update converges on the newest key: an old pod that
    restarts with the old value finds that key revoked and keeps serving (the caller
    logs it) instead of undoing the rotation."""
    parsed = keys.parse(key)
    if parsed is None:
        raise BootstrapKeyError("must look like sk_<8+ lowercase/digits>_<32+ chars>")
    found = store.find_api_key(parsed.prefix)
    if found is not None:
        if not keys.matches(parsed, found.secret_hash) or found.info.role is not role:
            raise BootstrapKeyError("its prefix belongs to a different key")
        mine = found.info
    else:
        try:
            mine = store.create_api_key(
                role=role,
                tenant_id=None,
                name=bootstrap_name(role),
                prefix=parsed.prefix,
                secret_hash=parsed.secret_hash,
                now=now,
            )
        except Conflict:  # another instance created it at the same moment
            created = store.find_api_key(parsed.prefix)
            if created is None:
                raise
            mine = created.info
    if mine.revoked_at is not None:
        raise RevokedBootstrapKey(mine)
    revoked = []
    for old in store.list_api_keys():
        if (
            old.name == bootstrap_name(role)
            and old.role is role
            and old.revoked_at is None
            and old.id < mine.id
        ):
            revoked.append(store.revoke_api_key(old.id, now=now))
    return revoked


class RevokedBootstrapKey(Exception):
    """The key in the environment was revoked, most likely replaced by a newer one."""

    def __init__(self, info: ApiKeyInfo) -> None:
        super().__init__(f"key {info.prefix} was revoked")
        self.info = info
