import { Alert, Anchor, Breadcrumbs, Button, Group, Paper, SimpleGrid, Stack, Title } from '@mantine/core';
import { Link, useParams } from 'react-router';
import { ApiError } from '../api/client';
import { useTask, useTaskAction } from '../api/queries';
import type { TaskState } from '../api/types';
import { AttemptTimeline } from '../components/AttemptTimeline';
import { JsonBlock } from '../components/JsonBlock';
import { QueryState } from '../components/QueryState';
import { TaskFacts } from '../components/TaskFacts';
import { notifyError, notifySuccess } from '../lib/notify';
import { useNow } from '../lib/useNow';

const CANCELLABLE: TaskState[] = ['scheduled', 'queued', 'retrying', 'running'];
const REQUEUEABLE: TaskState[] = ['dead', 'cancelled'];

export function TaskDetailPage() {
  const params = useParams();
  const id = Number(params.id);
  const valid = Number.isInteger(id) && id > 0;
  const task = useTask(id, valid);
  const action = useTaskAction();
  const now = useNow();

  if (!valid) return <Alert color="red">“{params.id}” is not a task id.</Alert>;
  const notFound = task.error instanceof ApiError && task.error.status === 404;

  const act = (kind: 'cancel' | 'retry') =>
    action.mutate(
      { id, action: kind },
      {
        onSuccess: (t) => notifySuccess(`Task #${t.id} is now ${t.state}`),
        onError: (err) => notifyError(err, kind === 'cancel' ? 'Cancel failed' : 'Requeue failed'),
      },
    );

  return (
    <Stack>
      <Breadcrumbs>
        <Anchor component={Link} to="/tasks">
          Tasks
        </Anchor>
        <span>#{id}</span>
      </Breadcrumbs>
      {notFound ? (
        <Alert color="gray" title="No such task">
          Task #{id} does not exist or belongs to another tenant.
        </Alert>
      ) : (
        <QueryState isLoading={task.isLoading} error={task.error} label={`task #${id}`} />
      )}
      {task.data && (
        <>
          <Group justify="space-between">
            <Title order={2}>
              Task #{task.data.id} <span style={{ fontWeight: 400 }}>· {task.data.type}</span>
            </Title>
            <Group gap="xs">
              {CANCELLABLE.includes(task.data.state) && (
                <Button color="red" variant="light" onClick={() => act('cancel')} loading={action.isPending}>
                  Cancel task
                </Button>
              )}
              {REQUEUEABLE.includes(task.data.state) && (
                <Button onClick={() => act('retry')} loading={action.isPending}>
                  Requeue task
                </Button>
              )}
            </Group>
          </Group>
          <TaskFacts task={task.data} now={now} />
          {task.data.last_error && (
            <Alert color="red" title="Last error" className="wrap-anywhere" style={{ whiteSpace: 'pre-wrap' }}>
              {task.data.last_error}
            </Alert>
          )}
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <JsonBlock label="Payload" value={task.data.payload} />
            <JsonBlock label="Result" value={task.data.result} empty="No result yet." />
          </SimpleGrid>
          <Paper withBorder p="md">
            <Title order={3} size="h4" mb="md">
              Attempts
            </Title>
            <AttemptTimeline attempts={task.data.attempts ?? []} />
          </Paper>
        </>
      )}
    </Stack>
  );
}
