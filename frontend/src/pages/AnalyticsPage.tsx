import { Grid, SegmentedControl, SimpleGrid, Stack } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { useSummary, useTenantBreakdown, useThroughput, useTypeBreakdown } from '../api/queries';
import { useSeesAll } from '../auth/AuthProvider';
import { BreakdownTable } from '../components/BreakdownTable';
import { ChartCard, FailureRateChart, LatencyChart, ThroughputChart } from '../components/Charts';
import { PageHeader } from '../components/PageHeader';
import { PercentileTable } from '../components/PercentileTable';
import { QueryState } from '../components/QueryState';
import { StatCard } from '../components/StatCard';
import { bucketFor, labelFor, toThroughputRows, WINDOWS } from '../lib/chartData';
import { formatCount, formatPercent, formatSpan } from '../lib/format';

export function AnalyticsPage() {
  const [search, setSearch] = useSearchParams();
  const requested = Number(search.get('window'));
  const windowS = WINDOWS.some((w) => Number(w.value) === requested) ? requested : 3600;
  const bucketS = bucketFor(windowS);
  const isAdmin = useSeesAll();
  const summary = useSummary(windowS);
  const throughput = useThroughput(windowS, bucketS);
  const types = useTypeBreakdown(windowS);
  const tenants = useTenantBreakdown(windowS);
  const rows = toThroughputRows(throughput.data?.points ?? [], labelFor(windowS));
  const s = summary.data;
  const label = WINDOWS.find((w) => Number(w.value) === windowS)?.label ?? '';

  return (
    <Stack>
      <PageHeader
        title="Analytics"
        description={`Throughput, latency and failures over the last ${label}, in ${formatSpan(bucketS)} buckets.`}
        actions={
          <SegmentedControl
            aria-label="Time window"
            value={String(windowS)}
            onChange={(v) => setSearch({ window: v }, { replace: true })}
            data={WINDOWS.map((w) => ({ value: w.value, label: w.label }))}
          />
        }
      />
      <QueryState isLoading={summary.isLoading} error={summary.error} label="analytics" />
      {s && (
        <SimpleGrid cols={{ base: 2, md: 5 }} spacing="sm">
          <StatCard label="Submitted" value={formatCount(s.submitted)} />
          <StatCard label="Succeeded" value={formatCount(s.succeeded)} color="green" />
          <StatCard label="Failed" value={formatCount(s.failed)} color="orange" />
          <StatCard label="Dead" value={formatCount(s.dead)} color="red" />
          <StatCard label="Failure rate" value={formatPercent(s.failure_rate)} />
        </SimpleGrid>
      )}
      <Grid>
        <Grid.Col span={{ base: 12, lg: 8 }}>
          <ChartCard title="Throughput" subtitle={`Tasks per ${formatSpan(bucketS)} bucket`}>
            <ThroughputChart rows={rows} h={280} />
          </ChartCard>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 4 }}>
          <ChartCard title="Failure rate" subtitle="Failed attempts ÷ finished attempts">
            <FailureRateChart rows={rows} h={280} />
          </ChartCard>
        </Grid.Col>
        {s && (
          <>
            <Grid.Col span={{ base: 12, md: 6 }}>
              <ChartCard title="Latency percentiles">
                <LatencyChart summary={s} />
              </ChartCard>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 6 }}>
              <ChartCard title="Latency table" subtitle="Queue wait is ready → started; run time is started → finished">
                <PercentileTable summary={s} />
              </ChartCard>
            </Grid.Col>
          </>
        )}
      </Grid>
      <ChartCard title="By task type">
        <QueryState isLoading={types.isLoading} error={types.error} label="the type breakdown" />
        {types.data && <BreakdownTable rows={types.data.items} by="type" />}
      </ChartCard>
      <ChartCard title="By tenant">
        <QueryState isLoading={tenants.isLoading} error={tenants.error} label="the tenant breakdown" />
        {tenants.data && <BreakdownTable rows={tenants.data.items} by="tenant" linkable={isAdmin} />}
      </ChartCard>
    </Stack>
  );
}
