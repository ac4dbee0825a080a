import { Alert, SimpleGrid, Stack } from '@mantine/core';
import { useWorkers } from '../api/queries';
import { PageHeader } from '../components/PageHeader';
import { QueryState } from '../components/QueryState';
import { StatCard } from '../components/StatCard';
import { WorkerCard } from '../components/WorkerCard';
import { useNow } from '../lib/useNow';

export function WorkersPage() {
  const workers = useWorkers();
  const now = useNow();
  const instances = [...(workers.data?.instances ?? [])].sort((a, b) => a.id.localeCompare(b.id));
  const slots = instances.reduce((n, i) => n + i.slots, 0);
  const busy = instances.reduce((n, i) => n + i.busy, 0);

  return (
    <Stack>
      <PageHeader
        title="Workers"
        description="Every live instance from the shared worker registry. An instance that stops heartbeating drops out within the registry TTL."
      />
      <QueryState isLoading={workers.isLoading} error={workers.error} label="workers" />
      {workers.data && (
        <>
          <SimpleGrid cols={{ base: 1, xs: 3 }} spacing="sm">
            <StatCard label="Instances" value={instances.length} />
            <StatCard label="Slots" value={slots} />
            <StatCard label="Busy" value={busy} hint={slots > 0 ? `${Math.round((busy / slots) * 100)} % in use` : undefined} />
          </SimpleGrid>
          {instances.length === 0 && (
            <Alert color="yellow" title="No workers">
              No instance with the worker role is heartbeating. Start one with <code>skiplock serve --role worker</code>.
            </Alert>
          )}
          {instances.map((instance) => (
            <WorkerCard key={instance.id} instance={instance} now={now} />
          ))}
        </>
      )}
    </Stack>
  );
}
