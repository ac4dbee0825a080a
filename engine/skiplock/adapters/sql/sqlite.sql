-- Queries that differ per dialect, for SQLite >= 3.35 (UPDATE ... RETURNING).
-- SQLite has one writer at a time: every write transaction starts with BEGIN IMMEDIATE,
-- which takes the write lock up front, so these scans need no row locks at all.

-- name: claim_update
-- The claim in one statement: the same order as MySQL's (priority DESC, id). It returns
-- the same columns as MySQL's claim_select, ``attempt`` as it was before the claim.
UPDATE tasks
SET state = :running, attempt = attempt + 1, lease_owner = :worker,
    lease_expires_at = :lease_until, started_at = :now
WHERE id IN (
    SELECT id FROM tasks INDEXED BY ix_tasks_claim
    WHERE tenant_id = :tenant_id AND state = :queued
    ORDER BY priority DESC, id
    LIMIT :n
)
RETURNING id, tenant_id, type, payload, attempt - 1 AS attempt, attempt_base, max_attempts,
          timeout_s, cost, created_at, run_at;

-- name: lock_running
SELECT id, tenant_id, type, attempt, lease_owner FROM tasks
WHERE id IN :ids AND state = :running;

-- name: due_select
SELECT id, tenant_id, type, attempt FROM tasks INDEXED BY ix_tasks_due
WHERE state = :state AND run_at <= :now
ORDER BY run_at, id
LIMIT :n;

-- name: expired_select
SELECT id, tenant_id, type, attempt, attempt_base, max_attempts FROM tasks INDEXED BY ix_tasks_lease
WHERE lease_expires_at < :now AND state = :running
ORDER BY lease_expires_at, id
LIMIT :n;

-- name: owned_select
SELECT id, tenant_id, type, attempt, attempt_base, max_attempts FROM tasks
WHERE state = :running AND lease_owner LIKE :prefix AND lease_owner <> :me
ORDER BY id
LIMIT :n;

-- name: prune_select
SELECT id FROM tasks INDEXED BY ix_tasks_finished
WHERE finished_at < :cutoff AND state IN :terminal
ORDER BY finished_at, id
LIMIT :n;

-- name: search_match
-- Task search (domain/search.py): the FTS5 table over payload and last_error, with
-- ``"word"*`` per word (FTS5 ANDs them).
SELECT rowid FROM tasks_search WHERE tasks_search MATCH :search

-- name: search_table_create
-- An external-content FTS5 index of tasks(payload, last_error), kept by the triggers
-- below. '_' is a word character, as in InnoDB's FULLTEXT parser.
CREATE VIRTUAL TABLE IF NOT EXISTS tasks_search USING fts5(
    payload, last_error, content='tasks', content_rowid='id',
    tokenize="unicode61 tokenchars '_'"
)

-- name: search_trigger_insert
CREATE TRIGGER IF NOT EXISTS tasks_search_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_search (rowid, payload, last_error)
    VALUES (new.id, new.payload, new.last_error);
END

-- name: search_trigger_delete
CREATE TRIGGER IF NOT EXISTS tasks_search_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, payload, last_error)
    VALUES ('delete', old.id, old.payload, old.last_error);
END

-- name: search_trigger_update
-- Only a change of the searched columns touches the index (a state change does not).
CREATE TRIGGER IF NOT EXISTS tasks_search_update AFTER UPDATE OF payload, last_error ON tasks
BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, payload, last_error)
    VALUES ('delete', old.id, old.payload, old.last_error);
    INSERT INTO tasks_search (rowid, payload, last_error)
    VALUES (new.id, new.payload, new.last_error);
END

-- name: search_rebuild
INSERT INTO tasks_search (tasks_search) VALUES ('rebuild')
