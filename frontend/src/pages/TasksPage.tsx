import { useMemo, useState } from 'react';
import { Anchor, Button, Group, LoadingOverlay, Paper, Text } from '@mantine/core';
import { useLatestSearch } from '../lib/useLatestSearch';
import { useTaskAction } from '../api/queries';
import { useCanAct } from '../auth/AuthProvider';
import { BulkActions } from '../components/BulkActions';
import { LiveListNotice, LivePauseButton } from '../components/LiveListControls';
import { PageHeader } from '../components/PageHeader';
import { Pager } from '../components/Pager';
import { QueryState } from '../components/QueryState';
import { TaskFilterBar } from '../components/TaskFilterBar';
import { TaskTable } from '../components/TaskTable';
import { filtersToSearch, parseFilters, parseSort, toBulkFilter, type SortKey, type TaskFilters } from '../lib/taskFilters';
import { useCursorPager } from '../lib/useCursorPager';
import { useListTotal } from '../lib/useListTotal';
import { useLiveList } from '../lib/useLiveList';
import { notifyError, notifySuccess } from '../lib/notify';
import { RUNNABLE_NOW } from '../lib/taskActions';
import { unknownTypeHint, useTaskFilterOptions } from '../lib/useTaskFilterOptions';

export function TasksPage() {
  const [search, latestSearch, setSearch] = useLatestSearch();
  const filters = useMemo(() => parseFilters(search), [search]);
  const sort = parseSort(search);
  const filterKey = `${filtersToSearch(filters).toString()}|${sort}`;
  const pager = useCursorPager(filterKey);
  const canAct = useCanAct();
  const [paused, setPaused] = useState(false);
  const { list, newCount, newCapped, showNew } = useLiveList(filters, filterKey, pager.cursor, pager.page, sort, paused);
  const count = useListTotal(filters, filterKey);
  const runNow = useTaskAction();
  const { typeOptions, typesKnown, tenantOptions, isAdmin } = useTaskFilterOptions();
  // Ticked rows are kept by id across live updates and pages, until the filters change.
  const [selection, setSelection] = useState<{ key: string; ids: Set<number> }>({ key: '', ids: new Set() });
  const selected = selection.key === filterKey ? selection.ids : new Set<number>();
  const offPage = [...selected].filter((id) => !(list.data?.items ?? []).some((t) => t.id === id)).length;

  // A new filter or order starts at page 1 (no cursor); the order survives filter changes.
  const withSort = (params: URLSearchParams, order: SortKey) => {
    if (order) params.set('sort', order);
    return params;
  };
  // Applied to the address bar as it is now (not as of this render): see TaskFilterBar.
  const setFilters = (patch: Partial<TaskFilters>) => {
    const now = latestSearch();
    setSearch(withSort(filtersToSearch({ ...parseFilters(now), ...patch }), parseSort(now)));
  };
  const setSort = (order: SortKey) => setSearch(withSort(filtersToSearch(parseFilters(latestSearch())), order));
  const items = list.data?.items ?? [];

  return (
    <>
      <PageHeader
        title="Tasks"
        description="Every task, newest first unless you sort otherwise. Filters, order and page live in the address bar, so you can share a view."
        actions={<LivePauseButton paused={paused} onToggle={() => setPaused((p) => !p)} />}
      />
      <TaskFilterBar filters={filters} onChange={setFilters} typeOptions={typeOptions} tenantOptions={tenantOptions} sort={sort} onSortChange={setSort} />
      <Paper withBorder p="sm" pos="relative">
        <Group justify="space-between" mb="xs" display={canAct ? undefined : 'none'}>
          <BulkActions
            selectedIds={[...selected]}
            buildFilter={filters.id ? null : () => toBulkFilter(filters, new Date())}
            onDone={() => setSelection({ key: filterKey, ids: new Set() })}
          />
          {selected.size > 0 && (
            <Text size="sm" c="dimmed" data-testid="selection-note">
              {offPage > 0 ? `${offPage} of them on other pages · ` : ''}
              <Anchor component="button" type="button" size="sm" onClick={() => setSelection({ key: filterKey, ids: new Set() })}>
                Clear selection
              </Anchor>
            </Text>
          )}
        </Group>
        <LiveListNotice paused={paused} newCount={newCount} newCapped={newCapped} onShowNew={showNew} />
        <QueryState isLoading={list.isLoading} error={list.error} label="tasks" />
        {list.data && (
          <>
            <LoadingOverlay visible={list.isPlaceholderData} zIndex={5} overlayProps={{ blur: 1 }} />
            <TaskTable
              tasks={items}
              selected={canAct ? selected : undefined}
              onSelectedChange={canAct ? (ids) => setSelection({ key: filterKey, ids }) : undefined}
              showTenant={isAdmin}
              emptyText={unknownTypeHint(filters.type, typeOptions, typesKnown) ?? 'No tasks match.'}
              rowAction={canAct ? (task) => RUNNABLE_NOW.includes(task.state) && (
                <Button
                  size="compact-sm"
                  variant="light"
                  aria-label={`Run task ${task.id} now`}
                  loading={runNow.isPending && runNow.variables?.id === task.id}
                  onClick={() =>
                    runNow.mutate(
                      { id: task.id, action: 'run-now' },
                      {
                        onSuccess: (t) => notifySuccess(`Task #${t.id} is now ${t.state}`),
                        onError: (err) => notifyError(err, 'Run now failed'),
                      },
                    )
                  }
                >
                  Run now
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
    </>
  );
}
