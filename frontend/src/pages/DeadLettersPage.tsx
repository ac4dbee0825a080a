import { useMemo, useState } from 'react';
import { Anchor, Button, Paper, Text } from '@mantine/core';
import { useLatestSearch } from '../lib/useLatestSearch';
import { useBulkAction, useBulkPreview, useTaskAction } from '../api/queries';
import { useCanAct } from '../auth/AuthProvider';
import { BulkPreview, previewReady } from '../components/BulkPreview';
import type { BulkRequest } from '../api/types';
import { ConfirmModal } from '../components/ConfirmModal';
import { LiveListNotice, LivePauseButton } from '../components/LiveListControls';
import { PageHeader } from '../components/PageHeader';
import { Pager } from '../components/Pager';
import { QueryState } from '../components/QueryState';
import { TaskFilterBar } from '../components/TaskFilterBar';
import { TaskTable } from '../components/TaskTable';
import { notifyError, notifySuccess } from '../lib/notify';
import { describeFilter, filtersToSearch, parseFilters, toBulkFilter, type TaskFilters } from '../lib/taskFilters';
import { useCursorPager } from '../lib/useCursorPager';
import { useListTotal } from '../lib/useListTotal';
import { useLiveList } from '../lib/useLiveList';
import { useTaskFilterOptions } from '../lib/useTaskFilterOptions';

/** The dead-letter queue: tasks whose attempts ran out, with their last error. */
export function DeadLettersPage() {
  const [search, latestSearch, setSearch] = useLatestSearch();
  const filters = useMemo<TaskFilters>(() => ({ ...parseFilters(search), states: ['dead'] }), [search]);
  const filterKey = filtersToSearch(filters).toString();
  const pager = useCursorPager(filterKey);
  const [paused, setPaused] = useState(false);
  // Newest first with new dead letters announced, not pushed in under the cursor, as on Tasks.
  const { list, newCount, newCapped, showNew } = useLiveList(filters, filterKey, pager.cursor, pager.page, '', paused);
  const count = useListTotal(filters, filterKey);
  const { typeOptions, tenantOptions, isAdmin } = useTaskFilterOptions();
  const requeueOne = useTaskAction();
  const canAct = useCanAct();
  const bulk = useBulkAction();
  const [confirmAll, setConfirmAll] = useState(false);
  const [selected, setSelected] = useState<Set<number>>(new Set());

  // Applied to the address bar as it is now (not as of this render): see TaskFilterBar.
  const setFilters = (patch: Partial<TaskFilters>) => {
    setSelected(new Set());
    setSearch(filtersToSearch({ ...parseFilters(latestSearch()), ...patch, states: [] }));
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
  const allFilter = useMemo(() => toBulkFilter(filters, new Date()), [filters]);
  const preview = useBulkPreview('retry', confirmAll ? allFilter : null);
  return (
    <>
      <PageHeader
        title="Dead letters"
        description="Tasks that failed on every attempt, newest first. Fix the cause, then requeue them with a fresh attempt budget."
        actions={
          <>
            <LivePauseButton paused={paused} onToggle={() => setPaused((p) => !p)} />
            {canAct && (
              <>
                <Button variant="light" disabled={selected.size === 0 || bulk.isPending} onClick={() => runBulk({ ids: [...selected] })}>
                  Requeue selected ({selected.size})
                </Button>
                <Button disabled={items.length === 0 || Boolean(filters.id)} onClick={() => setConfirmAll(true)}>
                  Requeue all…
                </Button>
              </>
            )}
          </>
        }
      />
      <TaskFilterBar filters={filters} onChange={setFilters} typeOptions={typeOptions} tenantOptions={tenantOptions} fixedState />
      {selected.size > 0 && (
        <Text size="sm" c="dimmed" mb="xs" data-testid="selection-note">
          {selected.size} selected
          {(() => {
            const off = [...selected].filter((id) => !items.some((t) => t.id === id)).length;
            return off > 0 ? `, ${off} of them on other pages` : '';
          })()}{' '}
          ·{' '}
          <Anchor component="button" type="button" size="sm" onClick={() => setSelected(new Set())}>
            Clear selection
          </Anchor>
        </Text>
      )}
      <Paper withBorder p="sm">
        <LiveListNotice paused={paused} newCount={newCount} newCapped={newCapped} onShowNew={showNew} />
        <QueryState isLoading={list.isLoading} error={list.error} label="dead letters" />
        {list.data && (
          <>
            <TaskTable
              tasks={items}
              selected={canAct ? selected : undefined}
              onSelectedChange={canAct ? setSelected : undefined}
              showTenant={isAdmin}
              emptyText="The dead-letter queue is empty."
              deadLetters
              rowAction={canAct ? (task) => (
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
              ) : undefined}
            />
            <Pager
              page={pager.page}
              hasPrev={pager.hasPrev}
              total={count.total}
              countAll={count}
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
        disabled={!previewReady(preview)}
        onClose={() => setConfirmAll(false)}
        onConfirm={() => runBulk({ filter: allFilter })}
      >
        <BulkPreview action="retry" preview={preview} />
        Every task matching <strong>{describeFilter(allFilter)}</strong> goes back to the queue, not only this page.
      </ConfirmModal>
    </>
  );
}
