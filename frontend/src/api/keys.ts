/** TanStack Query keys; the SSE layer invalidates by these prefixes. */
import type { TaskListParams } from '../lib/taskFilters';

export const keys = {
  tasks: ['tasks'] as const,
  taskLists: ['tasks', 'list'] as const,
  taskList: (params: TaskListParams, cursor: string | null) => ['tasks', 'list', params, cursor] as const,
  taskDetail: (id: number) => ['tasks', 'detail', id] as const,
  analytics: ['analytics'] as const,
  summary: (windowS: number) => ['analytics', 'summary', windowS] as const,
  throughput: (windowS: number, bucketS: number) => ['analytics', 'throughput', windowS, bucketS] as const,
  types: (windowS: number) => ['analytics', 'types', windowS] as const,
  tenantBreakdown: (windowS: number) => ['analytics', 'tenants', windowS] as const,
  workers: ['workers'] as const,
  taskTypes: ['task-types'] as const,
  queueStats: ['queue-stats'] as const,
  tenants: ['tenants'] as const,
  apiKeys: ['api-keys'] as const,
  schedules: ['schedules'] as const,
};
