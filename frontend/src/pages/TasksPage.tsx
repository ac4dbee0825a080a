import { useMemo, useState } from 'react';
import { Group, LoadingOverlay, Paper } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { useTaskList } from '../api/queries';
import { BulkActions } from '../components/BulkActions';
import { PageHeader } from '../components/PageHeader';
import { Pager } from '../components/Pager';
import { QueryState } from '../components/QueryState';
import { TaskFilterBar } from '../components/TaskFilterBar';
import { TaskTable } from '../components/TaskTable';
import { filtersToSearch, parseFilters, toBulkFilter, type TaskFilters } from '../lib/taskFilters';
import { useCursorPager } from '../lib/useCursorPager';
import { useTaskFilterOptions } from '../lib/useTaskFilterOptions';

export function TasksPage() {
  const [search, setSearch] = useSearchParams();
  const filters = useMemo(() => parseFilters(search), [search]);
  const filterKey = filtersToSearch(filters).toString();
  const pager = useCursorPager(filterKey);
  const list = useTaskList(filters, pager.cursor);
  const { typeOptions, tenantOptions, isAdmin } = useTaskFilterOptions();
  const [selection, setSelection] = useState<{ key: string; ids: Set<number> }>({ key: '', ids: new Set() });
  const selectionKey = `${filterKey}|${pager.page}`;
  const selected = selection.key === selectionKey ? selection.ids : new Set<number>();

  const setFilters = (next: TaskFilters) => setSearch(filtersToSearch(next), { replace: false });
  const items = list.data?.items ?? [];

  return (
    <>
      <PageHeader title="Tasks" description="Every task, newest first. Filters live in the address bar, so you can share a view." />
      <TaskFilterBar filters={filters} onChange={setFilters} typeOptions={typeOptions} tenantOptions={tenantOptions} />
      <Paper withBorder p="sm" pos="relative">
        <Group justify="space-between" mb="xs">
          <BulkActions
            selectedIds={[...selected].filter((id) => items.some((t) => t.id === id))}
            buildFilter={filters.id ? null : () => toBulkFilter(filters, new Date())}
            onDone={() => setSelection({ key: selectionKey, ids: new Set() })}
          />
        </Group>
        <QueryState isLoading={list.isLoading} error={list.error} label="tasks" />
        {list.data && (
          <>
            <LoadingOverlay visible={list.isPlaceholderData} zIndex={5} overlayProps={{ blur: 1 }} />
            <TaskTable
              tasks={items}
              selected={selected}
              onSelectedChange={(ids) => setSelection({ key: selectionKey, ids })}
              showTenant={isAdmin}
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
    </>
  );
}
