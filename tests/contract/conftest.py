"""The task-store contract runs against every adapter: SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skiplock.adapters.sql import SqlTaskStore, create_store


@pytest.fixture(params=["sqlite", "mysql"])
def store_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlTaskStore]:
    s = create_store(store_url)
    s.migrate()
    yield s
    s.close()
