import { Alert, Anchor, Breadcrumbs, Button, Group, Paper, SimpleGrid, Stack, Title } from '@mantine/core';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ApiError } from '../api/client';
import { useDeleteTask, useTask, useTaskAction } from '../api/queries';
import { useCanAct } from '../auth/AuthProvider';
import { AttemptTimeline } from '../components/AttemptTimeline';
import { ConfirmModal } from '../components/ConfirmModal';
import { JsonBlock } from '../components/JsonBlock';
import { QueryState } from '../components/QueryState';
import { TaskFacts } from '../components/TaskFacts';
import { notifyError, notifySuccess } from '../lib/notify';
import { CANCELLABLE, DELETABLE, REQUEUEABLE, RUNNABLE_NOW } from '../lib/taskActions';
import { useDocumentTitle } from '../lib/useDocumentTitle';
import { useNow } from '../lib/useNow';


export function TaskDetailPage() {
  const params = useParams();
  const id = Number(params.id);
  const valid = Number.isInteger(id) && id > 0;
  const task = useTask(id, valid);
  const action = useTaskAction();
  const remove = useDeleteTask();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const navigate = useNavigate();
  const canAct = useCanAct();
  const now = useNow();
  useDocumentTitle(`Task #${params.id ?? ''}`);

  if (!valid) return <Alert color="red">“{params.id}” is not a task id.</Alert>;
  const notFound = task.error instanceof ApiError && task.error.status === 404;

  const act = (kind: 'cancel' | 'retry' | 'run-now') =>
    action.mutate(
      { id, action: kind },
      {
        onSuccess: (t) => notifySuccess(`Task #${t.id} is now ${t.state}`),
        onError: (err) => notifyError(err, kind === 'cancel' ? 'Cancel failed' : kind === 'run-now' ? 'Run now failed' : 'Requeue failed'),
      },
    );

  const deleteTask = () =>
    remove.mutate(id, {
      onSuccess: () => {
        notifySuccess(`Task #${id} deleted`);
        void navigate('/tasks');
      },
      onError: (err) => notifyError(err, 'Delete failed'),
      onSettled: () => setConfirmDelete(false),
    });

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
            <Title order={1} size="h2">
              Task #{task.data.id} <span style={{ fontWeight: 400 }}>· {task.data.type}</span>
            </Title>
            <Group gap="xs">
              {canAct && RUNNABLE_NOW.includes(task.data.state) && (
                <Button variant="light" onClick={() => act('run-now')} loading={action.isPending}>
                  Run now
                </Button>
              )}
              {canAct && DELETABLE.includes(task.data.state) && (
                <Button color="red" variant="light" onClick={() => setConfirmDelete(true)} loading={remove.isPending}>
                  Delete
                </Button>
              )}
              {canAct && CANCELLABLE.includes(task.data.state) && (
                <Button color="red" variant="light" onClick={() => act('cancel')} loading={action.isPending}>
                  Cancel task
                </Button>
              )}
              {canAct && REQUEUEABLE.includes(task.data.state) && (
                <Button onClick={() => act('retry')} loading={action.isPending}>
                  Requeue task
                </Button>
              )}
            </Group>
          </Group>
          <ConfirmModal
            opened={confirmDelete}
            title={`Delete task #${id}?`}
            confirmLabel="Delete task"
            color="red"
            loading={remove.isPending}
            onConfirm={deleteTask}
            onClose={() => setConfirmDelete(false)}
          >
            Task #{id} ({task.data.type}) will never run, and its row is removed for good. To keep a record of it, cancel it instead.
          </ConfirmModal>
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
            <Title order={2} size="h4" mb="md">
              Attempts
            </Title>
            <AttemptTimeline attempts={task.data.attempts ?? []} requeue={task.data} />
          </Paper>
        </>
      )}
    </Stack>
  );
}
