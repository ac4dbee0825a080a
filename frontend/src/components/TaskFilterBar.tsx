import { useEffect, useState } from 'react';
import { Autocomplete, Button, Chip, Group, Select, Stack, TextInput } from '@mantine/core';
import { useDebouncedCallback } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { TASK_STATES, type TaskState } from '../api/types';
import { EMPTY_FILTERS, hasFilters, RANGE_OPTIONS, SORT_OPTIONS, type RangeKey, type SortKey, type TaskFilters } from '../lib/taskFilters';

export interface TaskFilterBarProps {
  filters: TaskFilters;
  onChange: (filters: TaskFilters) => void;
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
  useEffect(() => setType(filters.type), [filters.type]);
  useEffect(() => setId(filters.id), [filters.id]);

  const applyType = useDebouncedCallback((value: string) => onChange({ ...filters, type: value.trim() }), 400);

  const applyId = () => {
    const clean = id.trim().replace(/^#/, '');
    onChange({ ...filters, id: /^\d+$/.test(clean) ? clean : '' });
  };

  return (
    <Stack gap="sm" mb="md">
      {!fixedState && (
        <Chip.Group multiple value={filters.states} onChange={(v) => onChange({ ...filters, states: v as TaskState[] })}>
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
          w={200}
          clearable
        />
        {tenantOptions && (
          <Select
            label="Tenant"
            placeholder="Any tenant"
            data={tenantOptions}
            value={filters.tenant || null}
            onChange={(value) => onChange({ ...filters, tenant: value ?? '' })}
            searchable
            clearable
            w={200}
          />
        )}
        <Select
          label="Created"
          data={RANGE_OPTIONS}
          value={filters.range}
          onChange={(value) => onChange({ ...filters, range: (value ?? '') as RangeKey })}
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
