"""Shared fixtures: real MariaDB and Redis (found or started by ``tests.services``; a
missing service fails the run, it never skips) and SQLite files in a temp dir."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio._core._fileio  # noqa: F401 - see below
import pymysql
import pytest

from tests import services

# anyio is a pytest plugin, so pytest rewrites its modules when they are first imported.
# anyio imports its file module lazily, deep inside a Starlette FileResponse, and CPython
# 3.11.7's ast.parse can fail there with "AST constructor recursion depth mismatch"
# (python/cpython#106905). Importing it here, at a shallow stack, sidesteps that bug.


@pytest.fixture(scope="session")
def mysql_server() -> str:
    try:
        return services.mysql_server_url()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> str:
    try:
        return services.redis_server_url()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def mysql_url(mysql_server: str) -> Iterator[str]:
    """A fresh, empty database on the test MariaDB, dropped afterwards."""
    name = f"skiplock_t_{uuid.uuid4().hex[:12]}"
    conn = services._mysql_connect(mysql_server)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    yield f"{mysql_server}/{name}"
    conn = services._mysql_connect(mysql_server)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    except pymysql.MySQLError:
        pass
    finally:
        conn.close()


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path}/skiplock.db"


@pytest.fixture
def redis_url(redis_server: str) -> str:
    return redis_server


@pytest.fixture
def redis_prefix() -> str:
    """A key namespace of its own per test, so tests share one Redis safely."""
    return f"sktest:{uuid.uuid4().hex[:10]}"
