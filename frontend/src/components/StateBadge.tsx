import { Badge } from '@mantine/core';
import type { TaskState, TenantState } from '../api/types';

export const STATE_COLORS: Record<TaskState, string> = {
  scheduled: 'violet',
  queued: 'blue',
  running: 'cyan',
  succeeded: 'green',
  retrying: 'orange',
  dead: 'red',
  cancelled: 'gray',
};

export function StateBadge({ state }: { state: TaskState }) {
  return (
    <Badge color={STATE_COLORS[state] ?? 'gray'} variant="light" data-state={state}>
      {state}
    </Badge>
  );
}

const TENANT_COLORS: Record<TenantState, string> = { active: 'green', paused: 'yellow', draining: 'orange' };

export function TenantStateBadge({ state }: { state: TenantState }) {
  return (
    <Badge color={TENANT_COLORS[state] ?? 'gray'} variant="light">
      {state}
    </Badge>
  );
}
