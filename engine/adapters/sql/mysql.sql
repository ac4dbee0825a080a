-- Queries that differ per dialect, for MySQL >= 8.0.1 and MariaDB >= 10.6.
-- Every locking scan of the queue lives in this file; each one runs inside a short
-- READ COMMITTED transaction and names the index it must use, because a plan that
-- falls back to a filesort would lock every candidate row (see docs/DESIGN-NOTES.md).

-- name: claim_select
-- The claim. Equality on (tenant_id, state), then exactly the index order: no filesort,
-- no rows of other tenants read, locked rows of other workers skipped.
SELECT id FROM tasks FORCE INDEX (ix_tasks_claim)
WHERE tenant_id = :tenant_id AND state = :queued
ORDER BY priority DESC, id
LIMIT :n
FOR UPDATE SKIP LOCKED;

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
