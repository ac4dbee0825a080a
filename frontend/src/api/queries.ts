/** Query and mutation hooks, one per API resource. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { liveEvery, usePollInterval } from '../live/LiveProvider';
import { toListQuery, type SortKey, type TaskFilters } from '../lib/taskFilters';
import { useApi } from './ApiContext';
import { keys } from './keys';
import type {
  ApiKey,
  CreatedKey,
  AnalyticsSummary,
  Breakdown,
  BulkFilter,
  BulkRequest,
  BulkResult,
  CreatedTenant,
  QueueStats,
  TaskDetail,
  TaskPage,
  Task,
  Tenant,
  Throughput,
  Workers,
  TaskTypes,
} from './types';

export const PAGE_SIZE = 50;

export interface ListOptions {
  limit?: number;
  sort?: SortKey;
  /** Live updates paused: the tab's refresher and polling leave this list alone. */
  paused?: boolean;
  /** Off: do not fetch at all (e.g. the new-rows probe of a view that is not live). */
  enabled?: boolean;
}

export function useTaskList(filters: TaskFilters, cursor: string | null, { limit = PAGE_SIZE, sort = '', paused = false, enabled = true }: ListOptions = {}) {
  const api = useApi();
  const polling = usePollInterval();
  const refetchInterval = paused ? false : polling;
  return useQuery({
    enabled,
    meta: paused ? { frozen: true } : undefined,
    queryKey: keys.taskList(sort || limit !== PAGE_SIZE ? { ...filters, sort, limit } : filters, cursor),
    queryFn: () =>
      api.get<TaskPage>('/tasks', { ...toListQuery(filters, new Date()), limit, cursor: cursor ?? undefined, sort: sort || undefined }),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
}

/** How many tasks match ``filters`` (exact, or "at least" past 10,000). */
export function useTaskCount(filters: TaskFilters) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: [...keys.tasks, 'count', filters] as const,
    queryFn: () => api.get<{ total: number; exact: boolean }>('/tasks/count', toListQuery(filters, new Date())),
    placeholderData: keepPreviousData,
    refetchInterval,
    meta: liveEvery(30_000),
  });
}

export interface Total {
  total: number;
  exact: boolean;
}

/** Every task ``filters`` match, counted once when ``asked`` (the list's "Count all"): it
 * may take seconds at millions of rows, so it is neither polled nor refreshed by events. */
export function useTaskCountAll(filters: TaskFilters, asked: boolean) {
  const api = useApi();
  return useQuery({
    // Outside the 'tasks' keys: live invalidations of task views must not count again.
    queryKey: ['count-all', filters],
    queryFn: async () => ({
      ...(await api.get<Total>('/tasks/count', { ...toListQuery(filters, new Date()), exact: 'true' })),
      at: new Date(),
    }),
    enabled: asked,
    staleTime: Infinity,
    gcTime: 60_000,
    retry: false,
  });
}

export function useTask(id: number, enabled = true) {
  const api = useApi();
  const refetchInterval = usePollInterval();
  return useQuery({
    queryKey: keys.taskDetail(id),
    enabled,
    queryFn: () => api.get<TaskDetail>(`/tasks/${id}`),
    refetchInterval,
  });
}

export function useSummary(windowS: number) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.summary(windowS),
    queryFn: () => api.get<AnalyticsSummary>('/analytics', { window_s: windowS }),
    refetchInterval,
    meta: liveEvery(30_000),
  });
}

export function useThroughput(windowS: number, bucketS: number) {
  const api = useApi();
  // Buckets roll over with time even when nothing happens, so refresh now and then.
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.throughput(windowS, bucketS),
    queryFn: () => api.get<Throughput>('/analytics/throughput', { window_s: windowS, bucket_s: bucketS }),
    placeholderData: keepPreviousData,
    refetchInterval,
    meta: liveEvery(Math.max(10_000, bucketS * 1000)),
  });
}

export function useTypeBreakdown(windowS: number) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.types(windowS),
    queryFn: () => api.get<Breakdown>('/analytics/types', { window_s: windowS }),
    placeholderData: keepPreviousData,
    refetchInterval,
    meta: liveEvery(30_000),
  });
}

export function useTenantBreakdown(windowS: number) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.tenantBreakdown(windowS),
    queryFn: () => api.get<Breakdown>('/analytics/tenants', { window_s: windowS }),
    placeholderData: keepPreviousData,
    refetchInterval,
    meta: liveEvery(30_000),
  });
}

export function useWorkers() {
  const api = useApi();
  // Instances join and leave without task events; a slow refresh catches that.
  const refetchInterval = usePollInterval(5000);
  return useQuery({ queryKey: keys.workers, queryFn: () => api.get<Workers>('/workers'), refetchInterval, meta: liveEvery(10_000) });
}

export function useTaskTypes() {
  const api = useApi();
  // Types and their instances change when workers start or stop: no task event says so.
  const refetchInterval = usePollInterval(10_000);
  return useQuery({ queryKey: keys.taskTypes, queryFn: () => api.get<TaskTypes>('/task-types'), refetchInterval, meta: liveEvery(30_000) });
}

export function useQueueStats() {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({ queryKey: keys.queueStats, queryFn: () => api.get<QueueStats>('/queue/stats'), refetchInterval, meta: liveEvery(30_000) });
}

export function useTenants(enabled = true) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.tenants,
    queryFn: () => api.get<{ items: Tenant[] }>('/tenants'),
    enabled,
    refetchInterval,
    meta: liveEvery(30_000),
  });
}

/** After any change: the SSE stream will also report it, but the actor sees it at once. */
function useInvalidateTaskViews() {
  const queryClient = useQueryClient();
  return () => {
    void queryClient.invalidateQueries({ queryKey: keys.tasks });
    void queryClient.invalidateQueries({ queryKey: keys.analytics });
    void queryClient.invalidateQueries({ queryKey: keys.queueStats });
    void queryClient.invalidateQueries({ queryKey: keys.tenants });
  };
}

export function useTaskAction() {
  const api = useApi();
  const invalidate = useInvalidateTaskViews();
  return useMutation({
    mutationFn: ({ id, action }: { id: number; action: 'cancel' | 'retry' | 'run-now' }) =>
      api.post<Task>(`/tasks/${id}/${action}`),
    onSuccess: invalidate,
  });
}

/**
 * Delete a scheduled task (the API refuses any other state). Lists and counts refresh; the
 * task's own page is left alone (refetching it would only answer 404): its caller moves on.
 */
export function useDeleteTask() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => api.delete<Task>(`/tasks/${id}`),
    onSuccess: () => {
      for (const queryKey of [keys.taskLists, keys.analytics, keys.queueStats, keys.tenants]) {
        void queryClient.invalidateQueries({ queryKey });
      }
    },
  });
}

export function useBulkAction() {
  const api = useApi();
  const invalidate = useInvalidateTaskViews();
  return useMutation({
    mutationFn: ({ action, body }: { action: 'cancel' | 'retry'; body: BulkRequest }) =>
      api.post<BulkResult>(`/tasks/bulk/${action}`, body),
    onSuccess: invalidate,
  });
}

/** What a bulk action would change now (a dry run: nothing changes); null: not asked. */
export function useBulkPreview(action: 'cancel' | 'retry', filter: BulkFilter | null) {
  const api = useApi();
  return useQuery({
    // Outside the 'tasks' keys: invalidating task views after the action must not count again.
    queryKey: ['bulk-preview', action, filter],
    queryFn: () => api.post<BulkResult>(`/tasks/bulk/${action}`, { filter, dry_run: true }),
    enabled: filter !== null,
    staleTime: 0,
    gcTime: 0,
  });
}

export type TenantAction = 'pause' | 'resume' | 'drain';

export function useTenantAction() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ name, action }: { name: string; action: TenantAction }) =>
      api.post<Tenant>(`/tenants/${encodeURIComponent(name)}/${action}`),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.tenants });
      void queryClient.invalidateQueries({ queryKey: keys.queueStats });
    },
  });
}

export interface TenantPatch {
  weight?: number;
  rate_limit?: string | null;
}

export function useUpdateTenant() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ name, patch }: { name: string; patch: TenantPatch }) =>
      api.patch<Tenant>(`/tenants/${encodeURIComponent(name)}`, patch),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.tenants }),
  });
}

export function useCreateTenant() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; weight?: number; rate_limit?: string }) =>
      api.post<CreatedTenant>('/tenants', body),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.tenants }),
  });
}

/** How many tasks "Clear demo tasks" would delete now (a dry run); only while ``enabled``. */
export function useDemoClearPreview(enabled: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: ['demo-clear-preview'],
    queryFn: () => api.post<{ deleted: number; dry_run: boolean }>('/demo/clear', { dry_run: true }),
    enabled,
    staleTime: 0,
    gcTime: 0,
  });
}

export function useDemoAction() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (action: 'seed' | 'clear') =>
      api.post<{ created?: number; deleted?: number; tenants?: string[] }>(
        `/demo/${action}`,
        action === 'seed' ? { count: 300 } : {},
      ),
    onSuccess: () => void queryClient.invalidateQueries(),
  });
}

export function useApiKeys() {
  const api = useApi();
  return useQuery({ queryKey: keys.apiKeys, queryFn: () => api.get<{ items: ApiKey[] }>('/keys') });
}

export function useCreateKey() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { role: 'admin' | 'reader' | 'tenant'; tenant?: string; name?: string }) => api.post<CreatedKey>('/keys', body),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.apiKeys }),
  });
}

export function useRevokeKey() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => api.delete<ApiKey>(`/keys/${id}`),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.apiKeys }),
  });
}
