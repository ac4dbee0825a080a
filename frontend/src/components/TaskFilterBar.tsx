import { useEffect, useState } from 'react';
import { Autocomplete, Button, Chip, Group, Select, Stack, TextInput } from '@mantine/core';
import { useDebouncedCallback } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { TASK_STATES, type TaskState } from '../api/types';
import { EMPTY_FILTERS, hasFilters, RANGE_OPTIONS, SEARCH_MAX, searchProblem, SORT_OPTIONS, type RangeKey, type SortKey, type TaskFilters } from '../lib/taskFilters';

export interface TaskFilterBarProps {
  filters: TaskFilters;
  /**
   * The fields to change. A patch, not a whole filter set: the page applies it to the
   * address bar as it is *now*, so a change made before this bar re-rendered from the last
   * one (a quick click, then typing, on a busy machine) never brings back the old values.
   */
  onChange: (patch: Partial<TaskFilters>) => void;
  /** Admins filter by tenant; a tenant key only ever sees its own. */
  tenantOptions?: string[];
  typeOptions?: string[];
  /** Hide the state chips (the dead-letter page fixes the state). */
  fixedState?: boolean;
  /** The list's order, when the page offers a choice. */
  sort?: SortKey;
  onSortChange?: (sort: SortKey) => void;
}

export function TaskFilterBar({ filters, onChange, tenantOptions, typeOptions = [], fixedState, sort, onSortChange }: TaskFilterBarProps) {
  const [type, setType] = useState(filters.type);
  const [id, setId] = useState(filters.id);
  const [q, setQ] = useState(filters.q);
  useEffect(() => setType(filters.type), [filters.type]);
  useEffect(() => setId(filters.id), [filters.id]);
  useEffect(() => setQ(filters.q), [filters.q]);

  const applyType = useDebouncedCallback((value: string) => onChange({ type: value.trim() }), 400);
  // A search goes into the URL (and so to the server) once typing pauses, and only when
  // the server would run it; until then the box says what is missing.
  const qProblem = searchProblem(q);
  const applyQ = useDebouncedCallback((value: string) => {
    const clean = value.trim();
    if (searchProblem(clean) === null && clean !== filters.q) onChange({ q: clean });
  }, 400);

  const applyId = () => {
    const clean = id.trim().replace(/^#/, '');
    onChange({ id: /^\d+$/.test(clean) ? clean : '' });
  };

  return (
    <Stack gap="sm" mb="md">
      {!fixedState && (
        <Chip.Group multiple value={filters.states} onChange={(v) => onChange({ states: v as TaskState[] })}>
          <Group gap={6} role="group" aria-label="Filter by state">
            {TASK_STATES.map((state) => (
              <Chip key={state} value={state} size="sm" variant="outline">
                {state}
              </Chip>
            ))}
          </Group>
        </Chip.Group>
      )}
      <Group gap="sm" align="flex-end" wrap="wrap">
        <TextInput
          label="Search payload and errors"
          placeholder="e.g. invoice 4471"
          value={q}
          onChange={(e) => {
            setQ(e.currentTarget.value);
            applyQ(e.currentTarget.value);
          }}
          error={qProblem}
          leftSection={<IconSearch size={16} aria-hidden />}
          w={210}
          type="search"
          maxLength={SEARCH_MAX}
        />
        <form
          onSubmit={(e) => {
            e.preventDefault();
            applyId();
          }}
          role="search"
        >
          <TextInput
            label="Task id"
            placeholder="e.g. 42"
            value={id}
            onChange={(e) => setId(e.currentTarget.value)}
            onBlur={applyId}
            inputMode="numeric"
            leftSection={<IconSearch size={16} aria-hidden />}
            w={150}
            type="search"
          />
        </form>
        <Autocomplete
          label="Type"
          placeholder="Any type"
          data={typeOptions}
          value={type}
          onChange={(value) => {
            setType(value);
            applyType(value);
          }}
          w={180}
          clearable
        />
        {tenantOptions && (
          <Select
            label="Tenant"
            placeholder="Any tenant"
            data={tenantOptions}
            value={filters.tenant || null}
            onChange={(value) => onChange({ tenant: value ?? '' })}
            searchable
            clearable
            w={180}
          />
        )}
        <Select
          label="Created"
          data={RANGE_OPTIONS}
          value={filters.range}
          onChange={(value) => onChange({ range: (value ?? '') as RangeKey })}
          allowDeselect={false}
          w={180}
        />
        {onSortChange && (
          <Select
            label="Sort"
            data={SORT_OPTIONS.map((o) => ({ value: o.value, label: o.label }))}
            value={sort ?? ''}
            onChange={(value) => onSortChange((value ?? '') as SortKey)}
            allowDeselect={false}
            w={200}
          />
        )}
        {hasFilters(filters) && (
          <Button variant="subtle" onClick={() => onChange({ ...EMPTY_FILTERS, states: fixedState ? filters.states : [] })}>
            Clear filters
          </Button>
        )}
      </Group>
    </Stack>
  );
}
