/**
 * Applies SSE events to the TanStack Query cache.
 *
 * Rows already on screen are patched at once (state, attempt, error), so a task visibly
 * moves from queued to running to succeeded. Lists, counters and charts are refetched
 * through a throttle (at most about once a second per query-key prefix), so paging,
 * sorting and filtering stay server-authoritative even during a burst of events.
 */
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { keys } from '../api/keys';
import type { Task, TaskDetail, TaskEvent, TaskPage } from '../api/types';

export interface Throttle {
  /** Invalidate `queryKey` now, or once the interval since the last invalidation has passed. */
  invalidate(queryKey: QueryKey): void;
  cancel(): void;
}

export function createThrottledInvalidator(queryClient: QueryClient, intervalMs = 1000): Throttle {
  const lastRun = new Map<string, number>();
  const pending = new Map<string, ReturnType<typeof setTimeout>>();

  const run = (id: string, queryKey: QueryKey) => {
    lastRun.set(id, Date.now());
    void queryClient.invalidateQueries({ queryKey });
  };

  return {
    invalidate(queryKey) {
      const id = JSON.stringify(queryKey);
      if (pending.has(id)) return; // a trailing refresh is already due
      const since = Date.now() - (lastRun.get(id) ?? -Infinity);
      if (since >= intervalMs) {
        run(id, queryKey);
        return;
      }
      pending.set(
        id,
        setTimeout(() => {
          pending.delete(id);
          run(id, queryKey);
        }, intervalMs - since),
      );
    },
    cancel() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}

function patchTask<T extends Task>(task: T, event: TaskEvent): T {
  if (task.id !== event.id) return task;
  return {
    ...task,
    state: event.state,
    attempt: typeof event.attempt === 'number' ? event.attempt : task.attempt,
    last_error: event.error ?? task.last_error,
  };
}

export function applyTaskEvent(queryClient: QueryClient, throttle: Throttle, event: TaskEvent): void {
  queryClient.setQueriesData<TaskPage>({ queryKey: keys.taskLists }, (page) =>
    page && page.items.some((t) => t.id === event.id)
      ? { ...page, items: page.items.map((t) => patchTask(t, event)) }
      : page,
  );
  const detailKey = keys.taskDetail(event.id);
  if (queryClient.getQueryData(detailKey)) {
    queryClient.setQueryData<TaskDetail>(detailKey, (task) => (task ? patchTask(task, event) : task));
    throttle.invalidate(detailKey);
  }
  throttle.invalidate(keys.taskLists);
  throttle.invalidate(keys.analytics);
  throttle.invalidate(keys.queueStats);
  throttle.invalidate(keys.workers);
  throttle.invalidate(keys.tenants);
}

/** `reset` (the server dropped events we missed) and reopen-after-gap: refetch everything. */
export function invalidateEverything(queryClient: QueryClient): void {
  void queryClient.invalidateQueries();
}
