import { QueryClient, QueryObserver } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keys } from '../api/keys';
import type { Task, TaskDetail, TaskPage } from '../api/types';
import { EMPTY_FILTERS } from '../lib/taskFilters';
import { applyTaskEvent, createRefresher } from './cacheSync';

function task(id: number, state: Task['state']): Task {
  return {
    id, tenant: 'acme', type: 'email', state, priority: 0, cost: 1, attempt: 0, max_attempts: 3,
    payload: {}, result: null, last_error: null, created_at: '2026-01-01T00:00:00Z', run_at: null,
    started_at: null, finished_at: null,
  };
}

/** A query some component shows (one observer), counting its fetches. */
function watched(qc: QueryClient, key: readonly unknown[], meta?: Record<string, unknown>) {
  let fetches = 0;
  const observer = new QueryObserver(qc, {
    queryKey: key,
    queryFn: async () => {
      fetches += 1;
      return fetches;
    },
    staleTime: Infinity,
    meta,
  });
  const unsubscribe = observer.subscribe(() => undefined);
  return { fetches: () => fetches, unsubscribe };
}

describe('createRefresher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('refetches at most one query a second, whatever the event rate', async () => {
    const qc = new QueryClient();
    const shown = [watched(qc, ['tasks', 'list', 1]), watched(qc, ['analytics', 'summary']), watched(qc, ['queue-stats'])];
    await vi.advanceTimersByTimeAsync(0); // the first load of each
    const loaded = shown.map((q) => q.fetches());
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const refresher = createRefresher(qc, 1000);
    for (let second = 0; second < 5; second += 1) {
      for (let n = 0; n < 200; n += 1) {
        refresher.invalidate(['tasks']);
        refresher.invalidate(['analytics']);
        refresher.invalidate(['queue-stats']);
      }
      await vi.advanceTimersByTimeAsync(1000);
    }
    const fetched = shown.reduce((sum, q, i) => sum + q.fetches() - (loaded[i] ?? 0), 0);
    expect(fetched).toBeLessThanOrEqual(6); // one at once, then one a second
    expect(fetched).toBeGreaterThanOrEqual(3); // and every shown query got its turn
    for (const [i, q] of shown.entries()) expect(q.fetches()).toBeGreaterThan(loaded[i] ?? 0);
    expect(spy.mock.calls.every(([filter]) => (filter as { exact?: boolean }).exact)).toBe(true);
    refresher.cancel();
  });

  it('only marks queries nobody shows as stale', async () => {
    const qc = new QueryClient();
    qc.setQueryData(['workers'], { items: [] });
    const refresher = createRefresher(qc, 1000);
    refresher.invalidate(['workers']);
    await vi.advanceTimersByTimeAsync(3000);
    expect(qc.getQueryState(['workers'])?.isInvalidated).toBe(true);
    expect(qc.getQueryState(['workers'])?.fetchStatus).toBe('idle');
    refresher.cancel();
  });

  it('refreshes a shown query when its liveEvery age passes, within the same budget', async () => {
    const qc = new QueryClient();
    const q = watched(qc, ['task-types'], { liveEveryMs: 5000 });
    await vi.advanceTimersByTimeAsync(0);
    const refresher = createRefresher(qc, 1000);
    await vi.advanceTimersByTimeAsync(4000);
    expect(q.fetches()).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(q.fetches()).toBe(2);
    refresher.cancel();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(q.fetches()).toBe(2); // nothing after cancel
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

  it('drops a deleted task from every cached list and refetches its open page', () => {
    const qc = new QueryClient();
    const listKey = keys.taskList(EMPTY_FILTERS, null);
    qc.setQueryData<TaskPage>(listKey, { items: [task(1, 'scheduled'), task(2, 'queued')], next_cursor: null });
    qc.setQueryData<TaskDetail>(keys.taskDetail(1), { ...task(1, 'scheduled'), attempts: [] });
    const throttle = { invalidate: vi.fn(), cancel: vi.fn() };
    applyTaskEvent(qc, throttle, { id: 1, tenant: 'acme', type: 'email', state: 'scheduled', attempt: 0, at: 'x', deleted: true });
    expect(qc.getQueryData<TaskPage>(listKey)?.items.map((t) => t.id)).toEqual([2]);
    const invalidated = throttle.invalidate.mock.calls.map((c) => JSON.stringify(c[0]));
    expect(invalidated).toEqual(expect.arrayContaining([JSON.stringify(keys.taskDetail(1)), JSON.stringify(keys.taskLists)]));
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
