"""The SQL adapter keeps its count rule by structure: only the unit of work applies the
active-count tally, and only the unit of work (and migrations) open a transaction, so a
new write path cannot forget the tally. No module outside the dialect strategy asks
which database it runs on."""

from __future__ import annotations

import re
from pathlib import Path

import skiplock
from skiplock.adapters.sql import dialect

SQL = Path(skiplock.__file__).parent / "adapters" / "sql"
ENGINE = Path(skiplock.__file__).parent


def _code(path: Path) -> str:
    """The module's source without comments."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def _modules_matching(pattern: str, root: Path = SQL) -> set[str]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        if re.search(pattern, _code(path)):
            found.add(str(path.relative_to(ENGINE)))
    return found


def test_only_the_unit_of_work_applies_the_count_tally() -> None:
    # base.py: SqlBase.write; enqueue.py: its part of a caller's own transaction.
    # (A migration's ``apply`` is the other thing applied to a connection.)
    assert _modules_matching(r"(?<!migration)\.apply\(\s*conn", ENGINE) == {
        "adapters/sql/base.py",
        "enqueue.py",
    }


def test_only_the_unit_of_work_and_migrations_open_transactions() -> None:
    assert _modules_matching(r"\._transaction\(|\.begin\(\)") == {
        "adapters/sql/base.py",  # SqlBase.write / SqlBase.read
        "adapters/sql/dialect_mysql.py",  # the time-limited read of each dialect
        "adapters/sql/dialect_sqlite.py",
        "adapters/sql/store.py",  # migrations (DDL commits on its own on MySQL)
    }


def test_no_store_part_branches_on_the_database_name() -> None:
    names = r"is_mysql|dialect\.name\s*[!=]=|\"mysql\"\s*(if|else)|startswith\(\"sqlite"
    assert _modules_matching(names) == {
        "adapters/sql/dialect.py",  # the strategy itself
        "adapters/sql/schema.py",  # a column type's per-dialect storage (SQLAlchemy's hook)
    }


def test_each_dialect_is_chosen_from_its_name_and_url() -> None:
    assert dialect.dialect_named("mysql") is dialect.MYSQL
    assert dialect.dialect_named("sqlite") is dialect.SQLITE
    assert dialect.dialect_for_url("sqlite:///x.db") is dialect.SQLITE
    assert dialect.dialect_for_url("mysql+pymysql://u@h/db") is dialect.MYSQL
