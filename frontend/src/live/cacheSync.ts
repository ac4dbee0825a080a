/**
 * Applies SSE events to the TanStack Query cache.
 *
 * Rows already on screen are patched at once (state, attempt, error), so a task visibly
 * moves from queued to running to succeeded. Lists, counters and charts are refetched
 * through the tab's refresher (at most one API call a second, whatever the event rate), so
 * paging, sorting and filtering stay server-authoritative even during a burst of events.
 */
import type { Query, QueryClient, QueryKey } from '@tanstack/react-query';
import { keys } from '../api/keys';
import type { Task, TaskDetail, TaskEvent, TaskPage } from '../api/types';

export interface Throttle {
  /** Invalidate `queryKey` now, or once the interval since the last invalidation has passed. */
  invalidate(queryKey: QueryKey): void;
  cancel(): void;
}

/**
 * The tab's one refresher. Events mark the active queries under a key prefix as due; every
 * `intervalMs` at most one of them is refetched (the one with the oldest data), so a tab
 * makes at most one API call per interval however fast events arrive. Inactive queries are
 * only marked stale (they refetch when shown). Queries with `meta.liveEveryMs` also fall
 * due when their data is that old, so periodic refreshes share the same budget.
 */
export function createRefresher(queryClient: QueryClient, intervalMs = 1000): Throttle {
  const cache = queryClient.getQueryCache();
  const due = new Set<string>();
  let lastFetch = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const markPeriodic = () => {
    const now = Date.now();
    for (const query of cache.getAll()) {
      const every = (query.meta as { liveEveryMs?: number } | undefined)?.liveEveryMs;
      if (every && query.getObserversCount() > 0 && now - query.state.dataUpdatedAt >= every) due.add(query.queryHash);
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    markPeriodic();
    let pick: Query | undefined;
    for (const hash of [...due]) {
      const query = cache.get(hash);
      if (!query || query.getObserversCount() === 0) {
        due.delete(hash);
        if (query) void queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true, refetchType: 'none' });
        continue;
      }
      if (query.state.fetchStatus === 'fetching') continue; // already on its way
      // Paused by the reader (live updates off): stays due until resumed.
      if ((query.meta as { frozen?: boolean } | undefined)?.frozen) continue;
      if (!pick || query.state.dataUpdatedAt < pick.state.dataUpdatedAt) pick = query;
    }
    if (pick) {
      due.delete(pick.queryHash);
      lastFetch = Date.now();
      void queryClient.invalidateQueries({ queryKey: pick.queryKey, exact: true });
    }
    schedule();
  };

  function schedule() {
    if (timer || stopped) return;
    timer = setTimeout(tick, Math.max(0, lastFetch + intervalMs - Date.now(), due.size ? 0 : intervalMs));
  }

  schedule();
  return {
    invalidate(prefix) {
      for (const query of cache.findAll({ queryKey: prefix })) {
        if (query.getObserversCount() > 0) due.add(query.queryHash);
        else void queryClient.invalidateQueries({ queryKey: query.queryKey, exact: true, refetchType: 'none' });
      }
      if (due.size && timer && lastFetch + intervalMs <= Date.now()) {
        clearTimeout(timer);
        timer = null;
      }
      schedule();
    },
    cancel() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      due.clear();
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
      ? {
          ...page,
          // A deleted task leaves every list at once; the others change in place.
          items: event.deleted ? page.items.filter((t) => t.id !== event.id) : page.items.map((t) => patchTask(t, event)),
        }
      : page,
  );
  const detailKey = keys.taskDetail(event.id);
  if (queryClient.getQueryData(detailKey) && !event.deleted) {
    queryClient.setQueryData<TaskDetail>(detailKey, (task) => (task ? patchTask(task, event) : task));
    throttle.invalidate(detailKey);
  } else if (event.deleted) {
    throttle.invalidate(detailKey); // an open page refetches and says the task is gone
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
