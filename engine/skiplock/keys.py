"""API keys: ``sk_<prefix>_<secret>``. The prefix is an identifier safe to show and log;
the secret is stored only as its SHA-256 digest (keys are 190 random bits, so a slow
password hash would add latency without adding strength) and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

# The name of keys made from SKIPLOCK_ADMIN_KEY; no other key may take it, because
# starting with a new SKIPLOCK_ADMIN_KEY revokes the older keys of that name.
BOOTSTRAP_NAME = "bootstrap"

_KEY = re.compile(r"^sk_([a-z0-9]{8,32})_([A-Za-z0-9_-]{32,128})$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    prefix: str
    secret: str

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(key: str) -> ParsedKey | None:
    """The key's parts, or None when it is not shaped like a Skiplock key."""
    match = _KEY.match(key.strip())
    if match is None:
        return None
    return ParsedKey(prefix=match.group(1), secret=match.group(2))


def generate() -> tuple[str, ParsedKey]:
    """A new random key and its parts."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    secret = secrets.token_urlsafe(32)
    return f"sk_{prefix}_{secret}", ParsedKey(prefix, secret)


def new_session_token() -> str:
    """A dashboard session token: 256 random bits; the server keeps only its digest."""
    return secrets.token_urlsafe(32)


def matches(parsed: ParsedKey, stored_hash: str) -> bool:
    return hmac.compare_digest(parsed.secret_hash, stored_hash)
