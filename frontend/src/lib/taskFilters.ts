/** Task-list filters: kept in the URL query string so they survive reloads and actions. */
import type { BulkFilter, TaskState } from '../api/types';
import { isTaskState } from '../api/types';

export const RANGES = {
  '15m': 15 * 60,
  '1h': 60 * 60,
  '24h': 24 * 60 * 60,
  '7d': 7 * 24 * 60 * 60,
} as const;
export type RangeKey = keyof typeof RANGES | '';

export const RANGE_OPTIONS: { value: RangeKey; label: string }[] = [
  { value: '', label: 'Any time' },
  { value: '15m', label: 'Last 15 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
];

export interface TaskFilters {
  states: TaskState[];
  type: string;
  tenant: string;
  /** Exact task id search. */
  id: string;
  range: RangeKey;
  /** Search words in payload and last error (`q=`); '' for none. */
  q: string;
}

export const EMPTY_FILTERS: TaskFilters = { states: [], type: '', tenant: '', id: '', range: '', q: '' };

/** The server's rules for `q` (engine/skiplock/domain/search.py). */
export const SEARCH_MAX = 200;
export const SEARCH_MIN_WORD = 3;
const SEARCH_WORD = /[\p{L}\p{N}_]+/gu;

/** Why the server would refuse this search, or null when it can run ('' is no search). */
export function searchProblem(q: string): string | null {
  const text = q.trim();
  if (!text) return null;
  if (text.length > SEARCH_MAX) return `At most ${SEARCH_MAX} characters`;
  const words = [...new Set((text.match(SEARCH_WORD) ?? []).filter((w) => w.length >= SEARCH_MIN_WORD).map((w) => w.toLowerCase()))];
  if (words.length === 0) return `Give a word of ${SEARCH_MIN_WORD} or more letters or digits`;
  if (words.length > 8) return 'At most 8 words';
  if (words.some((w) => w.length > 84)) return 'Words of at most 84 characters';
  return null;
}

/** Sort orders of GET /api/tasks (`sort=`); '' is the default, newest created first. */
export const SORT_OPTIONS = [
  { value: '', label: 'Newest first' },
  { value: 'created', label: 'Oldest first' },
  { value: '-run_at', label: 'Run at, latest first' },
  { value: 'run_at', label: 'Run at, earliest first' },
  { value: '-finished', label: 'Finished, latest first' },
  { value: 'finished', label: 'Finished, earliest first' },
] as const;
export type SortKey = (typeof SORT_OPTIONS)[number]['value'];

export function parseSort(search: URLSearchParams): SortKey {
  const raw = search.get('sort') ?? '';
  return (SORT_OPTIONS.find((o) => o.value === raw)?.value ?? '') as SortKey;
}

/** What the list query is keyed on: the filters minus anything time-dependent, and the order. */
export type TaskListParams = TaskFilters & { sort?: SortKey; limit?: number };

function isRange(value: string): value is RangeKey {
  return value === '' || value in RANGES;
}

export function parseFilters(search: URLSearchParams): TaskFilters {
  const states = search
    .getAll('state')
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(isTaskState);
  const range = search.get('range') ?? '';
  const id = (search.get('id') ?? '').trim();
  const q = (search.get('q') ?? '').trim();
  return {
    states: [...new Set(states)],
    type: (search.get('type') ?? '').trim(),
    tenant: (search.get('tenant') ?? '').trim(),
    id: /^\d+$/.test(id) ? id : '',
    range: isRange(range) ? range : '',
    q: searchProblem(q) === null ? q : '',
  };
}

export function filtersToSearch(filters: TaskFilters): URLSearchParams {
  const search = new URLSearchParams();
  for (const state of filters.states) search.append('state', state);
  if (filters.type) search.set('type', filters.type);
  if (filters.tenant) search.set('tenant', filters.tenant);
  if (filters.id) search.set('id', filters.id);
  if (filters.range) search.set('range', filters.range);
  if (filters.q) search.set('q', filters.q);
  return search;
}

export function hasFilters(filters: TaskFilters): boolean {
  return filtersToSearch(filters).toString() !== '';
}

function createdAfter(range: RangeKey, now: Date): string | undefined {
  if (!range) return undefined;
  return new Date(now.getTime() - RANGES[range] * 1000).toISOString();
}

/** Query parameters for GET /api/tasks. */
export function toListQuery(filters: TaskFilters, now: Date) {
  return {
    state: filters.states,
    type: filters.type || undefined,
    tenant: filters.tenant || undefined,
    id: filters.id || undefined,
    created_after: createdAfter(filters.range, now),
    q: filters.q || undefined,
  };
}

/**
 * The `filter` body of POST /api/tasks/bulk/{cancel,retry}; the id search has no bulk form.
 * `state` is always a list: the server validates it as one (a bare string answers 422).
 */
export function toBulkFilter(filters: TaskFilters, now: Date): BulkFilter {
  const filter: BulkFilter = {};
  if (filters.states.length > 0) filter.state = [...filters.states];
  if (filters.type) filter.type = filters.type;
  if (filters.tenant) filter.tenant = filters.tenant;
  const after = createdAfter(filters.range, now);
  if (after) filter.created_after = after;
  if (filters.q) filter.q = filters.q;
  return filter;
}

export function describeFilter(filter: BulkFilter): string {
  const parts: string[] = [];
  if (filter.state?.length) parts.push(`state ${filter.state.join(' or ')}`);
  if (filter.type) parts.push(`type ${filter.type}`);
  if (filter.tenant) parts.push(`tenant ${filter.tenant}`);
  if (filter.q) parts.push(`containing “${filter.q}”`);
  if (filter.created_after) parts.push(`created after ${new Date(filter.created_after).toLocaleString()}`);
  return parts.length ? parts.join(', ') : 'every task';
}
