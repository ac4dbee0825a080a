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
}

export interface Attempt {
  attempt: number;
  worker: string | null;
  started_at: string | null;
  finished_at: string | null;
  outcome: string | null;
  error: string | null;
}

export interface TaskDetail extends Task {
  attempts: Attempt[];
}

export interface TaskPage {
  items: Task[];
  next_cursor: string | null;
}

export type Role = 'admin' | 'tenant';

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
}

export interface Workers {
  instances: WorkerInstance[];
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
}

export type BulkRequest = { ids: number[] } | { filter: BulkFilter };

export interface BulkResult {
  changed: number;
  ids: number[];
  truncated?: boolean;
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
}
