import { Table } from '@mantine/core';
import type { AnalyticsSummary } from '../api/types';
import { formatDuration } from '../lib/format';

export function PercentileTable({ summary }: { summary: AnalyticsSummary }) {
  const rows = [
    { label: 'Queue wait', p: summary.queue_wait_ms },
    { label: 'Run time', p: summary.run_time_ms },
  ];
  return (
    <Table aria-label="Latency percentiles">
      <Table.Thead>
        <Table.Tr>
          <Table.Th />
          <Table.Th ta="right">p50</Table.Th>
          <Table.Th ta="right">p95</Table.Th>
          <Table.Th ta="right">p99</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((r) => (
          <Table.Tr key={r.label}>
            <Table.Th scope="row">{r.label}</Table.Th>
            <Table.Td ta="right">{formatDuration(r.p?.p50)}</Table.Td>
            <Table.Td ta="right">{formatDuration(r.p?.p95)}</Table.Td>
            <Table.Td ta="right">{formatDuration(r.p?.p99)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
