import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Group, Paper, Table, Text } from '@mantine/core';
import { IconPlus } from '@tabler/icons-react';
import { Link } from 'react-router';
import { errorMessage } from '../api/client';
import { useDeleteSchedule, useScheduleAction, useSchedules, useTriggerSchedule, type ScheduleAction } from '../api/schedules';
import type { Schedule, Task } from '../api/types';
import { useSession } from '../auth/AuthProvider';
import { ConfirmModal } from '../components/ConfirmModal';
import { PageHeader } from '../components/PageHeader';
import { QueryState } from '../components/QueryState';
import { CreateScheduleModal } from '../components/ScheduleForm';
import { formatDateTime } from '../lib/format';
import { notifyError, notifySuccess } from '../lib/notify';
import { describeTiming } from '../lib/scheduleForm';

export const SCHEDULES_TITLE = 'Schedules · Skiplock';

export function SchedulesPage() {
  const session = useSession();
  const canChange = session.role !== 'reader';
  const isAdminView = session.role !== 'tenant'; // admins and readers see every tenant's
  const schedules = useSchedules();
  const act = useScheduleAction();
  const trigger = useTriggerSchedule();
  const remove = useDeleteSchedule();
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Schedule | null>(null);
  const [fired, setFired] = useState<{ schedule: string; task: Task } | null>(null);
  const items = [...(schedules.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name));

  const run = (s: Schedule, action: ScheduleAction) =>
    act.mutate(
      { name: s.name, action },
      {
        onSuccess: (after) => notifySuccess(`${after.name} is ${after.enabled ? 'running' : 'paused'}`),
        onError: (err) => notifyError(err, `Could not ${action} ${s.name}`),
      },
    );

  const fire = (s: Schedule) =>
    trigger.mutate(s.name, {
      onSuccess: (task) => setFired({ schedule: s.name, task }),
      onError: (err) => notifyError(err, `Could not trigger ${s.name}`),
    });

  const confirmDelete = () => {
    if (!deleting) return;
    remove.mutate(deleting.name, {
      onSuccess: (gone) => {
        notifySuccess(`Deleted schedule ${gone.name}`);
        setDeleting(null);
      },
    });
  };

  return (
    <>
      <PageHeader
        title="Schedules"
        description="Periodic tasks: each tick fires one task, however many instances run. Times are shown in your browser's time zone."
        actions={
          canChange && (
            <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
              Create schedule
            </Button>
          )
        }
      />
      {fired && (
        <Alert color="green" mb="md" withCloseButton closeButtonLabel="Dismiss" onClose={() => setFired(null)} data-testid="triggered">
          {fired.schedule} fired{' '}
          <Anchor component={Link} to={`/tasks/${fired.task.id}`} className="mono">
            task #{fired.task.id}
          </Anchor>{' '}
          ({fired.task.state}).
        </Alert>
      )}
      <QueryState isLoading={schedules.isLoading} error={schedules.error} label="schedules" />
      {schedules.data && (
        <Paper withBorder p="sm">
          <Table.ScrollContainer minWidth={960}>
            <Table striped aria-label="Schedules">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Schedule</Table.Th>
                  {isAdminView && <Table.Th>Tenant</Table.Th>}
                  <Table.Th>Type</Table.Th>
                  <Table.Th>When</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>Next run</Table.Th>
                  <Table.Th>Last run</Table.Th>
                  {canChange && <Table.Th>Actions</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.length === 0 && (
                  <Table.Tr>
                    <Table.Td colSpan={8}>
                      <Text c="dimmed" ta="center" py="md">
                        No schedules yet.
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                )}
                {items.map((s) => (
                  <Table.Tr key={s.name} data-schedule={s.name} data-enabled={s.enabled}>
                    <Table.Td fw={600} className="wrap-anywhere">
                      {s.name}
                    </Table.Td>
                    {isAdminView && <Table.Td>{s.tenant}</Table.Td>}
                    <Table.Td>{s.type}</Table.Td>
                    <Table.Td className="mono">{describeTiming(s)}</Table.Td>
                    <Table.Td>
                      <Badge color={s.enabled ? 'green' : 'yellow'} variant="light">
                        {s.enabled ? 'active' : 'paused'}
                      </Badge>
                    </Table.Td>
                    <Table.Td data-testid="next-run">{s.enabled ? formatDateTime(s.next_run_at) : '—'}</Table.Td>
                    <Table.Td>
                      {formatDateTime(s.last_run_at)}
                      {s.last_task_id !== null && (
                        <>
                          {' '}
                          <Anchor component={Link} to={`/tasks/${s.last_task_id}`} className="mono" aria-label={`Last task of ${s.name}`}>
                            #{s.last_task_id}
                          </Anchor>
                        </>
                      )}
                    </Table.Td>
                    {canChange && (
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          {s.enabled ? (
                            <Button size="compact-sm" variant="light" color="yellow" aria-label={`Pause ${s.name}`} disabled={act.isPending} onClick={() => run(s, 'pause')}>
                              Pause
                            </Button>
                          ) : (
                            <Button size="compact-sm" variant="light" color="green" aria-label={`Resume ${s.name}`} disabled={act.isPending} onClick={() => run(s, 'resume')}>
                              Resume
                            </Button>
                          )}
                          <Button size="compact-sm" variant="light" aria-label={`Trigger ${s.name} now`} loading={trigger.isPending && trigger.variables === s.name} onClick={() => fire(s)}>
                            Trigger now
                          </Button>
                          <Button size="compact-sm" variant="light" color="red" aria-label={`Delete ${s.name}`} onClick={() => setDeleting(s)}>
                            Delete
                          </Button>
                        </Group>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Paper>
      )}
      {canChange && (
        <CreateScheduleModal
          opened={creating}
          withTenant={session.role === 'admin'}
          onClose={() => setCreating(false)}
          onCreated={(s) => {
            setCreating(false);
            notifySuccess(`Created schedule ${s.name}`);
          }}
        />
      )}
      <ConfirmModal
        opened={deleting !== null}
        title={`Delete schedule ${deleting?.name ?? ''}?`}
        confirmLabel="Delete schedule"
        color="red"
        loading={remove.isPending}
        onConfirm={confirmDelete}
        onClose={() => {
          setDeleting(null);
          remove.reset();
        }}
      >
        It stops firing. Tasks it already fired stay as they are.
        {remove.error && (
          <Text c="red" size="sm" mt="xs" role="alert">
            {errorMessage(remove.error)}
          </Text>
        )}
      </ConfirmModal>
    </>
  );
}
