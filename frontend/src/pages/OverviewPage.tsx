import { Alert, Button, Grid, Group, RingProgress, SimpleGrid, Stack, Text } from '@mantine/core';
import { useDemoAction, useQueueStats, useSummary, useThroughput, useWorkers } from '../api/queries';
import { useIsAdmin } from '../auth/AuthProvider';
import { useFeatures } from '../features';
import { ChartCard, FailureRateChart, ThroughputChart } from '../components/Charts';
import { PageHeader } from '../components/PageHeader';
import { PercentileTable } from '../components/PercentileTable';
import { QueryState } from '../components/QueryState';
import { StatCard } from '../components/StatCard';
import { StateCounts } from '../components/StateCounts';
import { TopFailingTypes } from '../components/TopFailingTypes';
import { toThroughputRows } from '../lib/chartData';
import { formatCount, formatDuration, formatPercent } from '../lib/format';
import { notifyError, notifySuccess } from '../lib/notify';

const WINDOW_S = 3600;

function SlotsCard() {
  const workers = useWorkers();
  const instances = workers.data?.instances ?? [];
  const slots = instances.reduce((n, i) => n + i.slots, 0);
  const busy = instances.reduce((n, i) => n + i.busy, 0);
  const pct = slots > 0 ? (busy / slots) * 100 : 0;
  return (
    <StatCard
      label="Worker slots"
      testId="slots"
      value={
        <Group gap="sm" wrap="nowrap">
          <RingProgress size={54} thickness={6} sections={[{ value: pct, color: 'cyan' }]} aria-hidden />
          <span>
            {busy}/{slots}
          </span>
        </Group>
      }
      hint={`busy across ${instances.length} instance${instances.length === 1 ? '' : 's'}`}
    />
  );
}

function EmptyHint() {
  const admin = useIsAdmin();
  const { demo: offered } = useFeatures();
  // Seeding needs an admin and a server that offers demo data (SKIPLOCK_DEMO).
  const isAdmin = admin && offered;
  const demo = useDemoAction();
  return (
    <Alert color="blue" title="No tasks yet">
      <Stack gap="xs" align="flex-start">
        <Text size="sm">Submit tasks with POST /api/tasks{isAdmin ? ', or load demo data to watch tasks flow:' : '.'}</Text>
        {isAdmin && (
          <Button
            loading={demo.isPending}
            onClick={() =>
              demo.mutate('seed', {
                onSuccess: (r) => notifySuccess(`Created ${r.created ?? 0} demo tasks`, 'Demo data'),
                onError: (e) => notifyError(e, 'Demo data'),
              })
            }
          >
            Seed demo data
          </Button>
        )}
      </Stack>
    </Alert>
  );
}

export function OverviewPage() {
  const summary = useSummary(WINDOW_S);
  const throughput = useThroughput(WINDOW_S, 60);
  const queue = useQueueStats();
  const rows = toThroughputRows(throughput.data?.points ?? []);
  const s = summary.data;
  const total = s ? Object.values(s.counts).reduce((a, b) => a + (b ?? 0), 0) : 0;

  return (
    <Stack>
      <PageHeader title="Overview" description="Live state of the queue; rates and latencies over the last hour." />
      <QueryState isLoading={summary.isLoading} error={summary.error} label="the overview" />
      {s && total === 0 && <EmptyHint />}
      {s && (
        <>
          <StateCounts counts={s.counts} />
          <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} spacing="sm">
            <SlotsCard />
            <StatCard
              label="Queue depth"
              testId="queue-depth"
              value={formatCount(queue.data?.totals.queued)}
              hint={
                queue.data?.totals.queued
                  ? `oldest waiting ${formatDuration((queue.data.oldest_queued_age_s ?? 0) * 1000)}`
                  : 'nothing waiting'
              }
            />
            <StatCard label="Failure rate (1 h)" value={formatPercent(s.failure_rate)} color={(s.failure_rate ?? 0) > 0.2 ? 'red' : undefined} hint={`${formatCount(s.failed)} failed · ${formatCount(s.dead)} dead`} />
            <StatCard label="Completed (1 h)" value={formatCount(s.succeeded)} hint={`${formatCount(s.submitted)} submitted`} />
          </SimpleGrid>
          <Grid>
            <Grid.Col span={{ base: 12, lg: 7 }}>
              <ChartCard title="Throughput" subtitle="Tasks per minute, last hour">
                <ThroughputChart rows={rows} />
              </ChartCard>
            </Grid.Col>
            <Grid.Col span={{ base: 12, lg: 5 }}>
              <ChartCard title="Failure rate" subtitle="Failed attempts ÷ finished attempts, per minute">
                <FailureRateChart rows={rows} />
              </ChartCard>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 7 }}>
              <ChartCard title="Latency percentiles" subtitle="Queue wait (ready → started) and run time, last hour">
                <PercentileTable summary={s} />
              </ChartCard>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 5 }}>
              <ChartCard title="Top failing types" subtitle="Failed attempts, last hour">
                <TopFailingTypes items={s.top_failing_types ?? []} />
              </ChartCard>
            </Grid.Col>
          </Grid>
        </>
      )}
    </Stack>
  );
}
