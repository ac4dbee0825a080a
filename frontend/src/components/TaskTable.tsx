import type { ReactNode } from 'react';
import { Anchor, Checkbox, Table, Text, Tooltip } from '@mantine/core';
import { Link } from 'react-router';
import type { Task } from '../api/types';
import { attemptLabel, attemptShort } from '../lib/attempts';
import { formatDateTime } from '../lib/format';
import { StateBadge } from './StateBadge';

export interface TaskTableProps {
  tasks: Task[];
  selected?: ReadonlySet<number>;
  onSelectedChange?: (next: Set<number>) => void;
  showTenant?: boolean;
  /** Extra cell per row, e.g. a requeue button. */
  rowAction?: (task: Task) => ReactNode;
  emptyText?: string;
  /** Dead letters: when each task died and its payload, instead of when it was created. */
  deadLetters?: boolean;
}

function payloadText(payload: Task['payload']): string {
  return payload === null || payload === undefined ? '' : JSON.stringify(payload);
}

function truncate(text: string, max = 90): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function TaskTable({ tasks, selected, onSelectedChange, showTenant = true, rowAction, emptyText = 'No tasks match.', deadLetters = false }: TaskTableProps) {
  const selectable = Boolean(selected && onSelectedChange);
  const allSelected = selectable && tasks.length > 0 && tasks.every((t) => selected?.has(t.id));
  const someSelected = selectable && tasks.some((t) => selected?.has(t.id));

  const toggleAll = () => {
    if (!onSelectedChange) return;
    // This page's rows only: ticks on other pages stay.
    const next = new Set(selected);
    for (const t of tasks) {
      if (allSelected) next.delete(t.id);
      else next.add(t.id);
    }
    onSelectedChange(next);
  };
  const toggle = (id: number) => {
    if (!selected || !onSelectedChange) return;
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    onSelectedChange(next);
  };

  return (
    <Table.ScrollContainer minWidth={760}>
      <Table striped highlightOnHover verticalSpacing="xs" aria-label="Tasks">
        <Table.Thead>
          <Table.Tr>
            {selectable && (
              <Table.Th w={40}>
                <Checkbox
                  aria-label="Select all tasks on this page"
                  checked={allSelected}
                  indeterminate={someSelected && !allSelected}
                  onChange={toggleAll}
                />
              </Table.Th>
            )}
            <Table.Th>ID</Table.Th>
            <Table.Th>Type</Table.Th>
            {showTenant && <Table.Th>Tenant</Table.Th>}
            <Table.Th>State</Table.Th>
            <Table.Th>Attempts</Table.Th>
            {deadLetters ? (
              <>
                <Table.Th>Died</Table.Th>
                <Table.Th>Payload</Table.Th>
              </>
            ) : (
              <Table.Th>Created</Table.Th>
            )}
            <Table.Th>Last error</Table.Th>
            {rowAction && <Table.Th aria-label="Actions" />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tasks.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={10}>
                <Text c="dimmed" ta="center" py="md">
                  {emptyText}
                </Text>
              </Table.Td>
            </Table.Tr>
          )}
          {tasks.map((task) => (
            <Table.Tr key={task.id} data-task-id={task.id} data-state={task.state}>
              {selectable && (
                <Table.Td>
                  <Checkbox
                    aria-label={`Select task ${task.id}`}
                    checked={selected?.has(task.id) ?? false}
                    onChange={() => toggle(task.id)}
                  />
                </Table.Td>
              )}
              <Table.Td>
                <Anchor component={Link} to={`/tasks/${task.id}`} className="mono">
                  #{task.id}
                </Anchor>
              </Table.Td>
              <Table.Td>
                {task.type}
                {task.schedule && (
                  <Text size="xs" c="dimmed" className="wrap-anywhere" data-testid="task-schedule">
                    schedule {task.schedule}
                  </Text>
                )}
              </Table.Td>
              {showTenant && <Table.Td>{task.tenant}</Table.Td>}
              <Table.Td>
                <StateBadge state={task.state} />
              </Table.Td>
              <Table.Td>
                <Text size="sm" span title={attemptLabel(task)} style={{ whiteSpace: 'nowrap' }}>
                  {attemptShort(task)}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" style={{ whiteSpace: 'nowrap' }} data-testid={deadLetters ? 'died-at' : undefined}>
                  {formatDateTime(deadLetters ? task.finished_at : task.created_at)}
                </Text>
              </Table.Td>
              {deadLetters && (
                <Table.Td maw={260}>
                  <Text size="xs" className="mono wrap-anywhere" lineClamp={2} title={truncate(payloadText(task.payload), 2000)} data-testid="payload">
                    {truncate(payloadText(task.payload), 120) || '—'}
                  </Text>
                </Table.Td>
              )}
              <Table.Td maw={320}>
                {task.last_error ? (
                  <Tooltip label={truncate(task.last_error, 400)} multiline w={400}>
                    <Text size="sm" c="red" className="wrap-anywhere" lineClamp={2}>
                      {truncate(task.last_error)}
                    </Text>
                  </Tooltip>
                ) : (
                  <Text size="sm" c="dimmed">
                    —
                  </Text>
                )}
              </Table.Td>
              {rowAction && <Table.Td>{rowAction(task)}</Table.Td>}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
