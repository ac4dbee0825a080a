import { useState } from 'react';
import { useTaskList } from '../api/queries';
import type { Task } from '../api/types';
import type { SortKey, TaskFilters } from './taskFilters';

// How far the "N new" probe looks: beyond it the banner says "100+ new".
export const NEW_PROBE = 100;

/**
 * The task list as a reader sees it while tasks keep arriving.
 *
 * On the first page of the newest-first view the rows are pinned: the list asks for tasks
 * at or below the newest id it first showed, so new tasks never push the rows the reader
 * is looking at down the page; a small probe counts the newer ones for an "N new — show"
 * banner. `paused` stops refreshing the list altogether (rows still change state in place).
 */
export function useLiveList(filters: TaskFilters, viewKey: string, cursor: string | null, page: number, sort: SortKey, paused: boolean) {
  const [pin, setPin] = useState<{ key: string; top: number } | null>(null);
  const pinnable = page === 1 && sort === '' && !filters.id;
  const pinnedTop = pinnable && pin?.key === viewKey ? pin.top : null;
  const list = useTaskList(filters, pinnedTop !== null ? String(pinnedTop + 1) : cursor, { sort, paused });
  const probe = useTaskList(filters, null, { limit: NEW_PROBE, paused, enabled: pinnedTop !== null });

  const first = list.data?.items[0];
  if (pinnable && pinnedTop === null && first && !list.isPlaceholderData) {
    setPin({ key: viewKey, top: first.id }); // derived state: pin what the reader first sees
  }
  const newer = pinnedTop === null ? [] : (probe.data?.items ?? []).filter((t: Task) => t.id > pinnedTop);
  const showNew = () => {
    const newest = probe.data?.items[0];
    if (newest) setPin({ key: viewKey, top: newest.id });
  };
  return { list, newCount: newer.length, newCapped: newer.length >= NEW_PROBE, showNew };
}
