/** Query and mutation hooks for schedules (docs/API.md, "Schedules"). */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { liveEvery, usePollInterval } from '../live/LiveProvider';
import { useApi } from './ApiContext';
import { keys } from './keys';
import type { PreviewIn, Schedule, ScheduleIn, Task } from './types';

export function useSchedules() {
  const api = useApi();
  // No event announces a fire's bookkeeping (next and last run): refresh now and then.
  const refetchInterval = usePollInterval(5000);
  return useQuery({
    queryKey: keys.schedules,
    queryFn: () => api.get<{ items: Schedule[] }>('/schedules'),
    refetchInterval,
    meta: liveEvery(10_000),
  });
}

export type ScheduleAction = 'pause' | 'resume';

function useInvalidateSchedules() {
  const queryClient = useQueryClient();
  return () => void queryClient.invalidateQueries({ queryKey: keys.schedules });
}

const path = (name: string) => `/schedules/${encodeURIComponent(name)}`;

export function useScheduleAction() {
  const api = useApi();
  const invalidate = useInvalidateSchedules();
  return useMutation({
    mutationFn: ({ name, action }: { name: string; action: ScheduleAction }) =>
      api.post<Schedule>(`${path(name)}/${action}`),
    onSuccess: invalidate,
  });
}

export function useTriggerSchedule() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => api.post<Task>(`${path(name)}/trigger`),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.schedules });
      void queryClient.invalidateQueries({ queryKey: keys.tasks });
    },
  });
}

export function useDeleteSchedule() {
  const api = useApi();
  const invalidate = useInvalidateSchedules();
  return useMutation({
    mutationFn: (name: string) => api.delete<Schedule>(path(name)),
    onSuccess: invalidate,
  });
}

export function useCreateSchedule() {
  const api = useApi();
  const invalidate = useInvalidateSchedules();
  return useMutation({
    mutationFn: (body: ScheduleIn) => api.post<Schedule>('/schedules', body),
    onSuccess: invalidate,
  });
}

/** The next fire times of ``body`` (null: nothing to ask yet). Callers debounce it. */
export function useSchedulePreview(body: PreviewIn | null) {
  const api = useApi();
  return useQuery({
    queryKey: ['schedule-preview', body],
    queryFn: () => api.post<{ next: string[] }>('/schedules/preview', body),
    enabled: body !== null,
    staleTime: 60_000,
    retry: false,
  });
}
