import { AreaChart, BarChart, LineChart } from '@mantine/charts';
import { Paper, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';
import type { AnalyticsSummary } from '../api/types';
import { toLatencyRows, type ThroughputRow } from '../lib/chartData';
import { formatDuration } from '../lib/format';

export function ChartCard({ title, subtitle, children }: { title: string; subtitle?: string; children: ReactNode }) {
  return (
    <Paper withBorder p="md">
      <Title order={2} size="h5">
        {title}
      </Title>
      {subtitle && (
        <Text size="xs" c="dimmed" mb="sm">
          {subtitle}
        </Text>
      )}
      {children}
    </Paper>
  );
}

export function ThroughputChart({ rows, h = 240 }: { rows: ThroughputRow[]; h?: number }) {
  return (
    <AreaChart
      h={h}
      data={rows}
      dataKey="time"
      curveType="monotone"
      withLegend
      withDots={false}
      fillOpacity={0.15}
      series={[
        { name: 'submitted', label: 'Submitted', color: 'blue.6' },
        { name: 'succeeded', label: 'Succeeded', color: 'green.6' },
        { name: 'failed', label: 'Failed', color: 'orange.6' },
        { name: 'dead', label: 'Dead', color: 'red.6' },
      ]}
      xAxisProps={{ minTickGap: 24 }}
      role="figure"
      aria-label="Throughput chart"
    />
  );
}

export function FailureRateChart({ rows, h = 240 }: { rows: ThroughputRow[]; h?: number }) {
  return (
    <LineChart
      h={h}
      data={rows}
      dataKey="time"
      curveType="monotone"
      connectNulls
      unit=" %"
      yAxisProps={{ domain: [0, 100] }}
      xAxisProps={{ minTickGap: 24 }}
      series={[{ name: 'failureRate', label: 'Failure rate', color: 'red.6' }]}
      role="figure"
      aria-label="Failure rate chart"
    />
  );
}

export function LatencyChart({ summary, h = 240 }: { summary: AnalyticsSummary; h?: number }) {
  return (
    <BarChart
      h={h}
      data={toLatencyRows(summary)}
      dataKey="percentile"
      withLegend
      valueFormatter={(v) => formatDuration(v)}
      series={[
        { name: 'queueWait', label: 'Queue wait', color: 'violet.6' },
        { name: 'runTime', label: 'Run time', color: 'teal.6' },
      ]}
      role="figure"
      aria-label="Latency percentiles chart"
    />
  );
}
