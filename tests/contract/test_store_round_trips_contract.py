"""The worker path's writes are batched: releasing, completing or claiming many tasks
sends as many statements as doing it for one (on SQLite and MariaDB), so neither a
drain nor a busy worker pays a round trip per task. On MariaDB what is counted is the
driver's round trips (packets sent), since a worker's cycle folds several statements
into one packet (adapters/sql/folding.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pymysql
from sqlalchemy import event

from skiplock.adapters.sql import SqlTaskStore
from skiplock.domain.models import Claimed, Completion, Outcome
from skiplock.domain.states import Transition
from skiplock.ports import Lease
from tests.contract.store_kit import LEASE, T0, new


@contextmanager
def statements(store: SqlTaskStore) -> Iterator[list[str]]:
    """What the store sends: on SQLite each statement, on MariaDB each round trip (a
    command packet: a query, a multi-statement batch, a commit, a ping)."""
    sent: list[str] = []
    if store.engine.dialect.name == "mysql":
        real = pymysql.connections.Connection._execute_command

        def command(self: Any, command: int, sql: Any) -> Any:
            sent.append(sql if isinstance(sql, str) else repr(sql))
            return real(self, command, sql)

        with patch.object(pymysql.connections.Connection, "_execute_command", command):
            yield sent
        return

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def running(store: SqlTaskStore, n: int, name: str) -> list[Claimed]:
    tenant = store.create_tenant(name, weight=1, rate_limit=None, now=T0).id
    store.submit([new(tenant) for _ in range(n)], now=T0)
    return store.claim({tenant: n}, worker="w:1", now=T0, lease_until=T0 + LEASE)


def sent_for(store: SqlTaskStore, n: int, name: str, write: Callable[[list[Claimed]], Any]) -> int:
    held = running(store, n, name)
    assert len(held) == n
    with statements(store) as sent:
        write(held)
    return len(sent)


def test_a_release_of_many_leases_costs_what_one_costs(store: SqlTaskStore) -> None:
    def release(held: list[Claimed]) -> None:
        later = T0 + timedelta(seconds=1)
        assert len(store.release([Lease(c.id, c.attempt) for c in held], now=later)) == len(held)

    assert sent_for(store, 1, "one", release) == sent_for(store, 25, "many", release)


def test_a_completion_of_many_tasks_costs_what_one_costs(store: SqlTaskStore) -> None:
    def complete(held: list[Claimed]) -> None:
        done = [
            Completion(c.id, c.attempt, Transition.SUCCEED, Outcome.SUCCEEDED, T0) for c in held
        ]
        assert len(store.complete(done)) == len(held)

    assert sent_for(store, 1, "one", complete) == sent_for(store, 25, "many", complete)


def test_a_cycle_of_many_completions_and_claims_costs_what_one_costs(
    store: SqlTaskStore,
) -> None:
    """The producer's cycle: finished tasks written and their slots claimed again in one
    transaction. On MariaDB it is two round trips whatever the number of tasks: the
    fencing lock with the claim's SELECTs, then every write, the count change and the
    commit."""

    def cycle(n: int, name: str) -> int:
        held = running(store, n, name)
        tenant = held[0].tenant_id
        store.submit([new(tenant) for _ in range(n)], now=T0)
        done = [
            Completion(c.id, c.attempt, Transition.SUCCEED, Outcome.SUCCEEDED, T0) for c in held
        ]
        with statements(store) as sent:
            accepted, claimed = store.complete_and_claim(
                done, {tenant: n}, worker="w:1", now=T0, lease_until=T0 + LEASE
            )
        assert len(accepted) == n and len(claimed) == n
        assert {c.id for c in claimed}.isdisjoint(c.id for c in held)
        return len(sent)

    one, many = cycle(1, "one"), cycle(25, "many")
    assert one == many
    if store.engine.dialect.name == "mysql":
        assert many == 2
