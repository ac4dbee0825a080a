import { QueryClient } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keys } from '../api/keys';
import type { Task, TaskDetail, TaskPage } from '../api/types';
import { EMPTY_FILTERS } from '../lib/taskFilters';
import { applyTaskEvent, createThrottledInvalidator } from './cacheSync';

function task(id: number, state: Task['state']): Task {
  return {
    id, tenant: 'acme', type: 'email', state, priority: 0, cost: 1, attempt: 0, max_attempts: 3,
    payload: {}, result: null, last_error: null, created_at: '2026-01-01T00:00:00Z', run_at: null,
    started_at: null, finished_at: null,
  };
}

describe('createThrottledInvalidator', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('invalidates at once, then at most once per interval per key', () => {
    const qc = new QueryClient();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const throttle = createThrottledInvalidator(qc, 1000);
    throttle.invalidate(['tasks']);
    throttle.invalidate(['tasks']);
    throttle.invalidate(['tasks']);
    throttle.invalidate(['workers']);
    expect(spy).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(999);
    expect(spy).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(1);
    // One trailing refresh for the burst on ['tasks'].
    expect(spy).toHaveBeenCalledTimes(3);
    expect(spy).toHaveBeenLastCalledWith({ queryKey: ['tasks'] });
    vi.advanceTimersByTime(5000);
    expect(spy).toHaveBeenCalledTimes(3);
  });

  it('drops pending refreshes on cancel', () => {
    const qc = new QueryClient();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const throttle = createThrottledInvalidator(qc, 1000);
    throttle.invalidate(['tasks']);
    throttle.invalidate(['tasks']);
    throttle.cancel();
    vi.advanceTimersByTime(5000);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

describe('applyTaskEvent', () => {
  it('patches the row in every cached list and the cached detail', () => {
    const qc = new QueryClient();
    const listKey = keys.taskList(EMPTY_FILTERS, null);
    qc.setQueryData<TaskPage>(listKey, { items: [task(1, 'queued'), task(2, 'queued')], next_cursor: null });
    qc.setQueryData<TaskDetail>(keys.taskDetail(1), { ...task(1, 'queued'), attempts: [] });
    const throttle = { invalidate: vi.fn(), cancel: vi.fn() };

    applyTaskEvent(qc, throttle, { id: 1, tenant: 'acme', type: 'email', state: 'dead', attempt: 3, at: 'x', error: 'boom' });

    const page = qc.getQueryData<TaskPage>(listKey);
    expect(page?.items.map((t) => [t.id, t.state, t.attempt, t.last_error])).toEqual([
      [1, 'dead', 3, 'boom'],
      [2, 'queued', 0, null],
    ]);
    expect(qc.getQueryData<TaskDetail>(keys.taskDetail(1))?.state).toBe('dead');
    const invalidated = throttle.invalidate.mock.calls.map((c) => JSON.stringify(c[0]));
    expect(invalidated).toEqual(
      expect.arrayContaining([
        JSON.stringify(keys.taskLists),
        JSON.stringify(keys.taskDetail(1)),
        JSON.stringify(keys.analytics),
        JSON.stringify(keys.queueStats),
        JSON.stringify(keys.workers),
      ]),
    );
  });

  it('keeps fields a short maintenance event does not carry', () => {
    const qc = new QueryClient();
    const listKey = keys.taskList(EMPTY_FILTERS, null);
    qc.setQueryData<TaskPage>(listKey, { items: [{ ...task(4, 'retrying'), attempt: 2, last_error: 'x' }], next_cursor: null });
    applyTaskEvent(qc, { invalidate: vi.fn(), cancel: vi.fn() }, { id: 4, state: 'queued', at: 'now' });
    expect(qc.getQueryData<TaskPage>(listKey)?.items[0]).toMatchObject({ state: 'queued', attempt: 2, last_error: 'x' });
  });

  it('leaves lists without the task untouched and does not create a detail entry', () => {
    const qc = new QueryClient();
    const listKey = keys.taskList(EMPTY_FILTERS, null);
    const original: TaskPage = { items: [task(2, 'queued')], next_cursor: null };
    qc.setQueryData<TaskPage>(listKey, original);
    applyTaskEvent(qc, { invalidate: vi.fn(), cancel: vi.fn() }, { id: 9, tenant: 'a', type: 't', state: 'running', attempt: 1, at: 'x' });
    expect(qc.getQueryData(listKey)).toBe(original);
    expect(qc.getQueryData(keys.taskDetail(9))).toBeUndefined();
  });
});
