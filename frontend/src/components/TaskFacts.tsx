import type { ReactNode } from 'react';
import { Anchor, Paper, SimpleGrid, Stack, Text } from '@mantine/core';
import { Link } from 'react-router';
import type { TaskDetail } from '../api/types';
import { attemptLabel } from '../lib/attempts';
import { formatDateTime, formatDuration } from '../lib/format';
import { StateBadge } from './StateBadge';

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Stack gap={0}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="sm" component="div" className="wrap-anywhere">
        {children}
      </Text>
    </Stack>
  );
}

export function TaskFacts({ task, now }: { task: TaskDetail; now: number }) {
  const leaseLeft = task.lease_expires_at ? new Date(task.lease_expires_at).getTime() - now : null;
  return (
    <Paper withBorder p="md">
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 4 }} spacing="md">
        <Fact label="State">
          <StateBadge state={task.state} />
        </Fact>
        <Fact label="Type">{task.type}</Fact>
        <Fact label="Tenant">{task.tenant}</Fact>
        <Fact label="Attempts used">
          <span data-testid="attempt-label">{attemptLabel(task)}</span>
        </Fact>
        <Fact label="Priority">{task.priority}</Fact>
        <Fact label="Cost">{task.cost}</Fact>
        <Fact label="Timeout">{task.timeout_s != null ? formatDuration(task.timeout_s * 1000) : '—'}</Fact>
        <Fact label="Idempotency key">{task.idempotency_key ?? '—'}</Fact>
        <Fact label="Schedule">
          {task.schedule ? (
            <Anchor component={Link} to="/schedules" data-testid="task-schedule">
              {task.schedule}
            </Anchor>
          ) : (
            '—'
          )}
        </Fact>
        <Fact label="Created">{formatDateTime(task.created_at)}</Fact>
        <Fact label="Run at">{formatDateTime(task.run_at)}</Fact>
        <Fact label="Started">{formatDateTime(task.started_at)}</Fact>
        <Fact label="Finished">{formatDateTime(task.finished_at)}</Fact>
        {task.requeued_at && (
          <Fact label="Requeued">
            {formatDateTime(task.requeued_at)} by {task.requeued_by ?? 'unknown'}
          </Fact>
        )}
        <Fact label="Lease owner">
          <span className="mono">{task.lease_owner ?? '—'}</span>
        </Fact>
        <Fact label="Lease expires">
          {task.lease_expires_at
            ? `${formatDateTime(task.lease_expires_at)}${leaseLeft !== null && leaseLeft > 0 ? ` (in ${formatDuration(leaseLeft)})` : ' (expired)'}`
            : '—'}
        </Fact>
      </SimpleGrid>
    </Paper>
  );
}
