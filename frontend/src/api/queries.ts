/** Query and mutation hooks, one per API resource. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { usePollInterval } from '../live/LiveProvider';
import { toListQuery, type TaskFilters } from '../lib/taskFilters';
import { useApi } from './ApiContext';
import { keys } from './keys';
import type {
  AnalyticsSummary,
  Breakdown,
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
} from './types';

export const PAGE_SIZE = 50;

export function useTaskList(filters: TaskFilters, cursor: string | null, limit = PAGE_SIZE) {
  const api = useApi();
  const refetchInterval = usePollInterval();
  return useQuery({
    queryKey: keys.taskList(filters, cursor),
    queryFn: () =>
      api.get<TaskPage>('/tasks', { ...toListQuery(filters, new Date()), limit, cursor: cursor ?? undefined }),
    placeholderData: keepPreviousData,
    refetchInterval,
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
  const refetchInterval = usePollInterval(5000, 30_000);
  return useQuery({
    queryKey: keys.summary(windowS),
    queryFn: () => api.get<AnalyticsSummary>('/analytics', { window_s: windowS }),
    refetchInterval,
  });
}

export function useThroughput(windowS: number, bucketS: number) {
  const api = useApi();
  // Buckets roll over with time even when nothing happens, so refresh now and then.
  const refetchInterval = usePollInterval(5000, Math.max(10_000, bucketS * 1000));
  return useQuery({
    queryKey: keys.throughput(windowS, bucketS),
    queryFn: () => api.get<Throughput>('/analytics/throughput', { window_s: windowS, bucket_s: bucketS }),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
}

export function useTypeBreakdown(windowS: number) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000, 30_000);
  return useQuery({
    queryKey: keys.types(windowS),
    queryFn: () => api.get<Breakdown>('/analytics/types', { window_s: windowS }),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
}

export function useTenantBreakdown(windowS: number) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000, 30_000);
  return useQuery({
    queryKey: keys.tenantBreakdown(windowS),
    queryFn: () => api.get<Breakdown>('/analytics/tenants', { window_s: windowS }),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
}

export function useWorkers() {
  const api = useApi();
  // Instances join and leave without task events; a slow refresh catches that.
  const refetchInterval = usePollInterval(5000, 10_000);
  return useQuery({ queryKey: keys.workers, queryFn: () => api.get<Workers>('/workers'), refetchInterval });
}

export function useQueueStats() {
  const api = useApi();
  const refetchInterval = usePollInterval(5000, 30_000);
  return useQuery({ queryKey: keys.queueStats, queryFn: () => api.get<QueueStats>('/queue/stats'), refetchInterval });
}

export function useTenants(enabled = true) {
  const api = useApi();
  const refetchInterval = usePollInterval(5000, 30_000);
  return useQuery({
    queryKey: keys.tenants,
    queryFn: () => api.get<{ items: Tenant[] }>('/tenants'),
    enabled,
    refetchInterval,
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
    mutationFn: ({ id, action }: { id: number; action: 'cancel' | 'retry' }) =>
      api.post<Task>(`/tasks/${id}/${action}`),
    onSuccess: invalidate,
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
