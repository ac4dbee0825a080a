from __future__ import annotations

from skiplock import keys


def test_generated_keys_parse_and_match_their_hash() -> None:
    key, parts = keys.generate()
    parsed = keys.parse(key)
    assert parsed == parts
    assert keys.matches(parsed, parts.secret_hash)


def test_a_wrong_secret_does_not_match() -> None:
    _key, parts = keys.generate()
    other = keys.parse(f"sk_{parts.prefix}_{'x' * 43}")
    assert other is not None
    assert not keys.matches(other, parts.secret_hash)


def test_malformed_keys_are_refused() -> None:
    for bad in ("", "sk_", "pk_abcdefgh_" + "a" * 40, "sk_ABCDEFGH_" + "a" * 40, "sk_abc_short"):
        assert keys.parse(bad) is None


def test_the_hash_never_contains_the_secret() -> None:
    _, parts = keys.generate()
    assert parts.secret not in parts.secret_hash
