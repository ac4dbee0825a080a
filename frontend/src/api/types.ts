/** Shapes of the Skiplock HTTP API (docs/API.md). */

export const TASK_STATES = [
  'scheduled',
  'queued',
  'running',
  'succeeded',
  'retrying',
  'dead',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export function isTaskState(value: string): value is TaskState {
  return (TASK_STATES as readonly string[]).includes(value);
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Task {
  id: number;
  tenant: string;
  type: string;
  state: TaskState;
  priority: number;
  cost: number;
  attempt: number;
  max_attempts: number;
  timeout_s?: number | null;
  payload: Json;
  result: Json;
  last_error: string | null;
  idempotency_key?: string | null;
  created_at: string;
  run_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  lease_owner?: string | null;
  lease_expires_at?: string | null;
  /** Attempts charged to the current budget (attempt - attempt_base). */
  attempts_used?: number;
  /** Attempts up to this number ran before the last manual requeue (or a release). */
  attempt_base?: number;
  /** The last manual requeue, and who did it (role, key name, key prefix). */
  requeued_at?: string | null;
  requeued_by?: string | null;
  /** The schedule that fired it (docs/API.md), or null. */
  schedule?: string | null;
}

export interface Attempt {
  attempt: number;
  worker: string | null;
  started_at: string | null;
  finished_at: string | null;
  outcome: string | null;
  error: string | null;
  /** A failed attempt's traceback, at most 16 KiB. */
  traceback?: string | null;
}

export interface TaskDetail extends Task {
  attempts: Attempt[];
}

export interface TaskPage {
  items: Task[];
  next_cursor: string | null;
}

/** admin: everything; reader: sees what an admin sees, changes nothing; tenant: its own tasks. */
export type Role = 'admin' | 'reader' | 'tenant';

export interface Whoami {
  role: Role;
  tenant: string | null;
  key_prefix: string;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface AnalyticsSummary {
  window_s: number;
  counts: Partial<Record<TaskState, number>>;
  submitted: number;
  succeeded: number;
  failed: number;
  dead: number;
  failure_rate: number | null;
  queue_wait_ms: Percentiles;
  run_time_ms: Percentiles;
  top_failing_types: { type: string; failed: number }[];
}

export interface ThroughputPoint {
  t: string;
  submitted: number;
  succeeded: number;
  failed: number;
  dead: number;
}

export interface Throughput {
  bucket_s: number;
  points: ThroughputPoint[];
}

/** `failed` is in the API doc; the engine currently sends scheduled/retrying/cancelled instead. */
export interface BreakdownRow {
  type?: string;
  tenant?: string;
  total: number;
  queued: number;
  scheduled?: number;
  running: number;
  retrying?: number;
  succeeded: number;
  failed?: number;
  dead: number;
  cancelled?: number;
  p50_run_ms: number | null;
  p95_run_ms: number | null;
}

export interface Breakdown {
  items: BreakdownRow[];
}

export interface WorkerTask {
  id: number;
  type: string;
  tenant: string;
  attempt: number;
  started_at: string | null;
}

export interface WorkerInstance {
  id: string;
  host: string;
  roles?: string[];
  started_at: string;
  last_heartbeat: string;
  slots: number;
  busy: number;
  tasks: WorkerTask[];
  /** Task types this instance's workers handle (absent from engines before announcements). */
  types?: string[];
}

export interface Workers {
  instances: WorkerInstance[];
}

/** A task type some worker has announced (GET /api/task-types). */
export interface TaskType {
  name: string;
  /** Live instances whose workers handle it now; empty when none runs. */
  instances: string[];
  first_seen: string;
  last_seen: string;
  max_attempts: number | null;
  timeout_s: number | null;
  cost: number | null;
}

export interface TaskTypes {
  types: TaskType[];
}

export type TenantState = 'active' | 'paused' | 'draining';

export interface RateLimit {
  cost: number;
  window_s: number;
}

export interface Tenant {
  id: number;
  name: string;
  weight: number;
  state: TenantState;
  rate_limit: RateLimit | null;
  queued: number;
  running: number;
  drained: boolean;
  created_at: string;
}

export interface QueueStatsRow {
  tenant: string;
  state: TenantState;
  weight: number;
  queued: number;
  scheduled: number;
  running: number;
  retrying: number;
  oldest_queued_age_s: number | null;
  drained: boolean;
}

export interface QueueStats {
  tenants: QueueStatsRow[];
  totals: { queued: number; scheduled: number; running: number; retrying: number };
  oldest_queued_age_s: number | null;
}

export interface BulkFilter {
  state?: TaskState[];
  type?: string;
  tenant?: string;
  created_after?: string;
  created_before?: string;
  /** Search words, as the list's `q`. */
  q?: string;
}

export type BulkRequest = ({ ids: number[] } | { filter: BulkFilter }) & { dry_run?: boolean };

export interface BulkResult {
  changed: number;
  ids: number[];
  truncated?: boolean;
  /** True when nothing changed: `changed` and `ids` are what the action would change. */
  dry_run?: boolean;
}

export interface CreatedTenant {
  tenant: Tenant;
  api_key: string;
}

/**
 * Data of an SSE `task` event. The API promises every field, but events from the
 * engine's maintenance loops (promoter, rescuer) carry only id, state and at, so the
 * rest is treated as optional.
 */
export interface TaskEvent {
  id: number;
  state: TaskState;
  at?: string;
  tenant?: string;
  type?: string;
  attempt?: number;
  error?: string | null;
  /** The task is gone (a deleted scheduled task); `state` is the one it was deleted in. */
  deleted?: boolean;
}

export interface ApiKey {
  id: number;
  prefix: string;
  role: Role;
  tenant: string | null;
  name: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface CreatedKey extends ApiKey {
  /** The secret, shown once: the server keeps only its hash. */
  key: string;
}

export type CatchUp = 'none' | 'one' | 'all';

/** A schedule as GET /api/schedules answers it (ScheduleOut). */
export interface Schedule {
  name: string;
  tenant: string;
  type: string;
  payload: Json;
  cron: string | null;
  every_s: number | null;
  timezone: string;
  priority: number;
  cost: number | null;
  max_attempts: number | null;
  timeout_s: number | null;
  catch_up: CatchUp;
  enabled: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  last_task_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface ScheduleIn {
  name: string;
  type: string;
  tenant?: string;
  payload?: Json;
  cron?: string;
  every_s?: number;
  timezone: string;
  catch_up: CatchUp;
}

export interface PreviewIn {
  cron?: string;
  every_s?: number;
  timezone: string;
  count: number;
}
