import { Anchor, Table, Text } from '@mantine/core';
import { Link } from 'react-router';
import type { BreakdownRow } from '../api/types';
import { formatCount, formatDuration, formatPercent } from '../lib/format';

export interface BreakdownTableProps {
  rows: BreakdownRow[];
  by: 'type' | 'tenant';
  /** Tenant names link to a filtered task list only for admins. */
  linkable?: boolean;
}

type CountKey = 'queued' | 'scheduled' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'dead' | 'cancelled';

const COUNT_COLUMNS: { key: CountKey; label: string }[] = [
  { key: 'queued', label: 'Queued' },
  { key: 'scheduled', label: 'Scheduled' },
  { key: 'running', label: 'Running' },
  { key: 'retrying', label: 'Retrying' },
  { key: 'succeeded', label: 'Succeeded' },
  { key: 'failed', label: 'Failed' },
  { key: 'dead', label: 'Dead' },
  { key: 'cancelled', label: 'Cancelled' },
];

/**
 * Share of finished work that failed: failed attempts when the server reports them,
 * otherwise tasks that ended dead.
 */
export function failureShare(row: BreakdownRow): number | null {
  const failures = row.failed ?? row.dead;
  const finished = row.succeeded + failures;
  return finished > 0 ? failures / finished : null;
}

export function BreakdownTable({ rows, by, linkable = true }: BreakdownTableProps) {
  const sorted = [...rows].sort((a, b) => b.total - a.total);
  // Show only the counts the server sends, so the table follows the API as it grows.
  const columns = COUNT_COLUMNS.filter((c) => rows.some((r) => typeof r[c.key] === 'number'));
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table striped aria-label={`Breakdown by ${by}`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{by === 'type' ? 'Type' : 'Tenant'}</Table.Th>
            <Table.Th ta="right">Total</Table.Th>
            {columns.map((c) => (
              <Table.Th key={c.key} ta="right">
                {c.label}
              </Table.Th>
            ))}
            <Table.Th ta="right">Failure</Table.Th>
            <Table.Th ta="right">p50 run</Table.Th>
            <Table.Th ta="right">p95 run</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {sorted.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={columns.length + 5}>
                <Text c="dimmed" ta="center" size="sm">
                  Nothing ran in this window.
                </Text>
              </Table.Td>
            </Table.Tr>
          )}
          {sorted.map((row) => {
            const name = (by === 'type' ? row.type : row.tenant) ?? '—';
            return (
              <Table.Tr key={name}>
                <Table.Td>
                  {linkable ? (
                    <Anchor component={Link} to={`/tasks?${by}=${encodeURIComponent(name)}`} size="sm">
                      {name}
                    </Anchor>
                  ) : (
                    name
                  )}
                </Table.Td>
                <Table.Td ta="right">{formatCount(row.total)}</Table.Td>
                {columns.map((c) => (
                  <Table.Td key={c.key} ta="right">
                    {formatCount(row[c.key])}
                  </Table.Td>
                ))}
                <Table.Td ta="right">{formatPercent(failureShare(row))}</Table.Td>
                <Table.Td ta="right">{formatDuration(row.p50_run_ms)}</Table.Td>
                <Table.Td ta="right">{formatDuration(row.p95_run_ms)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
