"""MySQL 8's default ``caching_sha2_password`` over a plain connection (how the chart's
pods reach its ``mysql:8.4``) sends the password RSA-encrypted with the server's public
key; PyMySQL does that with ``cryptography``, which is therefore a dependency."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pymysql import _auth


def test_pymysql_can_answer_the_servers_rsa_challenge() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    salt = b"0123456789abcdefghij"
    sent = _auth.sha2_rsa_encrypt(b"s3cret", salt, public_pem)
    # What the server does with it: decrypt, then undo the XOR with the scramble.
    plain = key.decrypt(
        sent,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None
        ),  # SHA-1 OAEP is what the MySQL protocol specifies
    )
    password = bytes(b ^ salt[i % len(salt)] for i, b in enumerate(plain))
    assert password == b"s3cret\0"
