import { useMemo, useState } from 'react';
import { Button, Paper } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { useBulkAction, useTaskAction, useTaskList } from '../api/queries';
import type { BulkRequest } from '../api/types';
import { ConfirmModal } from '../components/ConfirmModal';
import { PageHeader } from '../components/PageHeader';
import { Pager } from '../components/Pager';
import { QueryState } from '../components/QueryState';
import { TaskFilterBar } from '../components/TaskFilterBar';
import { TaskTable } from '../components/TaskTable';
import { notifyError, notifySuccess } from '../lib/notify';
import { describeFilter, filtersToSearch, parseFilters, toBulkFilter, type TaskFilters } from '../lib/taskFilters';
import { useCursorPager } from '../lib/useCursorPager';
import { useTaskFilterOptions } from '../lib/useTaskFilterOptions';

/** The dead-letter queue: tasks whose attempts ran out, with their last error. */
export function DeadLettersPage() {
  const [search, setSearch] = useSearchParams();
  const filters = useMemo<TaskFilters>(() => ({ ...parseFilters(search), states: ['dead'] }), [search]);
  const filterKey = filtersToSearch(filters).toString();
  const pager = useCursorPager(filterKey);
  const list = useTaskList(filters, pager.cursor);
  const { typeOptions, tenantOptions, isAdmin } = useTaskFilterOptions();
  const requeueOne = useTaskAction();
  const bulk = useBulkAction();
  const [confirmAll, setConfirmAll] = useState(false);
  const [selected, setSelected] = useState<Set<number>>(new Set());

  const setFilters = (next: TaskFilters) => {
    const params = filtersToSearch({ ...next, states: [] });
    setSelected(new Set());
    setSearch(params);
  };

  const runBulk = (body: BulkRequest) =>
    bulk.mutate(
      { action: 'retry', body },
      {
        onSuccess: (res) => {
          notifySuccess(`${res.changed} task${res.changed === 1 ? '' : 's'} requeued${res.truncated ? ' (more remain)' : ''}`);
          setConfirmAll(false);
          setSelected(new Set());
        },
        onError: (err) => notifyError(err, 'Requeue failed'),
      },
    );

  const items = list.data?.items ?? [];
  const allFilter = toBulkFilter(filters, new Date());
  return (
    <>
      <PageHeader
        title="Dead letters"
        description="Tasks that failed on every attempt. Fix the cause, then requeue them with a fresh attempt budget."
        actions={
          <>
            <Button variant="light" disabled={selected.size === 0 || bulk.isPending} onClick={() => runBulk({ ids: [...selected] })}>
              Requeue selected ({selected.size})
            </Button>
            <Button disabled={items.length === 0 || Boolean(filters.id)} onClick={() => setConfirmAll(true)}>
              Requeue all…
            </Button>
          </>
        }
      />
      <TaskFilterBar filters={filters} onChange={setFilters} typeOptions={typeOptions} tenantOptions={tenantOptions} fixedState />
      <Paper withBorder p="sm">
        <QueryState isLoading={list.isLoading} error={list.error} label="dead letters" />
        {list.data && (
          <>
            <TaskTable
              tasks={items}
              selected={selected}
              onSelectedChange={setSelected}
              showTenant={isAdmin}
              emptyText="The dead-letter queue is empty."
              rowAction={(task) => (
                <Button
                  size="compact-sm"
                  variant="light"
                  aria-label={`Requeue task ${task.id}`}
                  loading={requeueOne.isPending && requeueOne.variables?.id === task.id}
                  onClick={() =>
                    requeueOne.mutate(
                      { id: task.id, action: 'retry' },
                      {
                        onSuccess: () => notifySuccess(`Task #${task.id} requeued`),
                        onError: (err) => notifyError(err, 'Requeue failed'),
                      },
                    )
                  }
                >
                  Requeue
                </Button>
              )}
            />
            <Pager
              page={pager.page}
              shown={items.length}
              hasNext={Boolean(list.data.next_cursor)}
              onFirst={pager.first}
              onPrev={pager.prev}
              onNext={() => list.data?.next_cursor && pager.next(list.data.next_cursor)}
            />
          </>
        )}
      </Paper>
      <ConfirmModal
        opened={confirmAll}
        title="Requeue every dead task?"
        confirmLabel="Requeue all"
        loading={bulk.isPending}
        onClose={() => setConfirmAll(false)}
        onConfirm={() => runBulk({ filter: allFilter })}
      >
        Every task matching <strong>{describeFilter(allFilter)}</strong> goes back to the queue, not only this page.
      </ConfirmModal>
    </>
  );
}
