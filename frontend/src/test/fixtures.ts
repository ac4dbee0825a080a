import type { Task, TaskDetail } from '../api/types';

export function makeTask(overrides: Partial<Task> & { id: number }): Task {
  return {
    tenant: 'acme',
    type: 'resize_image',
    state: 'queued',
    priority: 0,
    cost: 1,
    attempt: 0,
    max_attempts: 3,
    timeout_s: 60,
    payload: { url: 'https://example.test/a.png' },
    result: null,
    last_error: null,
    idempotency_key: null,
    created_at: '2026-11-28T08:00:00Z',
    run_at: '2026-11-28T08:00:00Z',
    started_at: null,
    finished_at: null,
    lease_owner: null,
    lease_expires_at: null,
    ...overrides,
  };
}

export function makeDetail(overrides: Partial<TaskDetail> & { id: number }): TaskDetail {
  return { attempts: [], ...makeTask(overrides), ...overrides };
}
