-- Queries that differ per dialect, for MySQL >= 8.0.1 and MariaDB >= 10.6.
-- Every locking scan of the queue lives in this file; each one runs inside a short
-- READ COMMITTED transaction and names the index it must use, because a plan that
-- falls back to a filesort would lock every candidate row (see docs/DESIGN-NOTES.md).

-- name: claim_select
-- The claim. Equality on (tenant_id, state), then exactly the index order: no filesort,
-- no rows of other tenants read, locked rows of other workers skipped. It reads what the
-- worker needs from the rows it locks (locking visits each row anyway), so the claim
-- needs no second SELECT; ``attempt`` is the value before the claim adds one.
SELECT id, tenant_id, type, payload, attempt, attempt_base, max_attempts, timeout_s, cost,
       created_at, run_at
FROM tasks FORCE INDEX (ix_tasks_claim)
WHERE tenant_id = :tenant_id AND state = :queued
ORDER BY priority DESC, id
LIMIT :n
FOR UPDATE SKIP LOCKED;

-- name: claim_mark
-- The rows claim_select locked become running under this worker's lease.
UPDATE tasks
SET state = :running, attempt = attempt + 1, lease_owner = :worker,
    lease_expires_at = :lease_until, started_at = :now
WHERE id IN :ids;

-- name: attempt_insert
INSERT INTO task_attempts (task_id, attempt, worker, started_at)
VALUES (:task_id, :attempt, :worker, :started_at);

-- name: counts_add
-- A transaction's net change to the active counts (docs/DESIGN-NOTES.md, "Counting
-- active tasks"). Run with one parameter set per key, in key order: the driver sends
-- them as one multi-row INSERT.
INSERT INTO task_counts (tenant_id, type, state, shard, n)
VALUES (:tenant_id, :type, :state, :shard, :n)
ON DUPLICATE KEY UPDATE n = n + VALUES(n);

-- name: task_insert
-- New tasks, one row of VALUES per task (the caller repeats the row for each): the
-- columns a new task starts without are written as constants, not bound per row.
INSERT INTO tasks (tenant_id, type, state, priority, cost, attempt, attempt_base,
                   max_attempts, timeout_s, payload, result, last_error, idempotency_key,
                   created_at, run_at, started_at, finished_at, lease_owner,
                   lease_expires_at)
VALUES (:tenant_id, :type, :state, :priority, :cost, 0, 0,
        :max_attempts, :timeout_s, :payload, NULL, NULL, :idempotency_key,
        :created_at, :run_at, NULL, NULL, NULL,
        NULL);

-- name: lock_running
-- Lock the running rows a completion or heartbeat is about, to check their fencing token.
SELECT id, tenant_id, type, attempt, lease_owner FROM tasks
WHERE id IN :ids AND state = :running
FOR UPDATE;

-- name: due_select
-- The promoter: scheduled or retrying tasks whose run_at has come.
SELECT id, tenant_id, type, attempt FROM tasks FORCE INDEX (ix_tasks_due)
WHERE state = :state AND run_at <= :now
ORDER BY run_at, id
LIMIT :n
FOR UPDATE SKIP LOCKED;

-- name: expired_select
-- The rescuer: running tasks whose lease has expired.
SELECT id, tenant_id, type, attempt, attempt_base, max_attempts FROM tasks FORCE INDEX (ix_tasks_lease)
WHERE lease_expires_at < :now AND state = :running
ORDER BY lease_expires_at, id
LIMIT :n
FOR UPDATE SKIP LOCKED;

-- name: owned_select
-- Startup recovery: running tasks leased by an earlier incarnation of this instance.
SELECT id, tenant_id, type, attempt, attempt_base, max_attempts FROM tasks FORCE INDEX (ix_tasks_state_id)
WHERE state = :running AND lease_owner LIKE :prefix AND lease_owner <> :me
ORDER BY id
LIMIT :n
FOR UPDATE SKIP LOCKED;

-- name: prune_select
SELECT id FROM tasks FORCE INDEX (ix_tasks_finished)
WHERE finished_at < :cutoff AND state IN :terminal
ORDER BY finished_at, id
LIMIT :n
FOR UPDATE SKIP LOCKED;

-- name: buffer_pool_and_tasks_size
-- For `skiplock doctor`: the InnoDB buffer pool against the tasks table (data and
-- indexes), which claims read page by page.
SELECT @@innodb_buffer_pool_size AS pool_bytes,
       (SELECT COALESCE(SUM(data_length + index_length), 0)
          FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_name = 'tasks') AS tasks_bytes

-- name: search_match
-- Task search (domain/search.py): the FULLTEXT index ix_tasks_search over payload and
-- last_error, in boolean mode with ``+word*`` per word (every word, as a prefix).
MATCH (tasks.payload, tasks.last_error) AGAINST (:search IN BOOLEAN MODE)

-- name: search_index_exists
SELECT COUNT(*) FROM information_schema.statistics
WHERE table_schema = DATABASE() AND table_name = 'tasks' AND index_name = 'ix_tasks_search'

-- name: search_index_create
-- Built with innodb_ft_enable_stopword off for this session (the migration sets it), so
-- no word is a stopword. The first FULLTEXT index of a table rebuilds it once (InnoDB
-- adds its hidden FTS_DOC_ID column): about a minute per 10^6 rows.
CREATE FULLTEXT INDEX ix_tasks_search ON tasks (payload, last_error)
