import { Alert, Badge, Group, Paper, SimpleGrid, Stack, Table, Text } from '@mantine/core';
import { useTaskTypes } from '../api/queries';
import type { TaskType } from '../api/types';
import { PageHeader } from '../components/PageHeader';
import { QueryState } from '../components/QueryState';
import { StatCard } from '../components/StatCard';
import { formatAge, formatDateTime } from '../lib/format';
import { useNow } from '../lib/useNow';

function defaults(t: TaskType): string {
  const parts = [
    t.max_attempts !== null ? `${t.max_attempts} attempts` : null,
    t.timeout_s !== null ? `${t.timeout_s} s timeout` : null,
    t.cost !== null ? `cost ${t.cost}` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : 'engine defaults';
}

export function TaskTypesPage() {
  const types = useTaskTypes();
  const now = useNow(5000);
  const items = types.data?.types ?? [];
  const handled = items.filter((t) => t.instances.length > 0).length;

  return (
    <Stack>
      <PageHeader
        title="Task types"
        description="Every type a worker has announced: the types submissions may name. Instances are the live ones whose workers handle each type now."
      />
      <QueryState isLoading={types.isLoading} error={types.error} label="task types" />
      {types.data && (
        <>
          <SimpleGrid cols={{ base: 1, xs: 3 }} spacing="sm">
            <StatCard label="Types" value={items.length} />
            <StatCard label="Handled now" value={handled} testId="types-handled" />
            <StatCard
              label="Without a worker"
              value={items.length - handled}
              hint={items.length - handled > 0 ? 'their tasks wait for one' : undefined}
            />
          </SimpleGrid>
          {items.length === 0 ? (
            <Alert color="yellow" title="No task types">
              No worker has announced a task type yet, so every submission is refused. Start a worker with your
              handler module: <code>SKIPLOCK_HANDLERS=myapp.tasks skiplock serve --role worker</code>.
            </Alert>
          ) : (
            <Paper withBorder radius="md">
              <Table.ScrollContainer minWidth={640}>
                <Table verticalSpacing="sm" highlightOnHover>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Type</Table.Th>
                      <Table.Th>Instances</Table.Th>
                      <Table.Th>Defaults</Table.Th>
                      <Table.Th>Last announced</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {items.map((t) => (
                      <Table.Tr key={t.name} data-type={t.name}>
                        <Table.Td fw={600} className="mono">
                          {t.name}
                        </Table.Td>
                        <Table.Td>
                          {t.instances.length > 0 ? (
                            <Group gap={4}>
                              {t.instances.map((id) => (
                                <Badge key={id} variant="light" className="mono" tt="none">
                                  {id}
                                </Badge>
                              ))}
                            </Group>
                          ) : (
                            <Badge color="yellow" variant="light" tt="none">
                              no worker now
                            </Badge>
                          )}
                        </Table.Td>
                        <Table.Td>
                          <Text size="sm" c="dimmed">
                            {defaults(t)}
                          </Text>
                        </Table.Td>
                        <Table.Td title={`first announced ${formatDateTime(t.first_seen)}`}>
                          {formatAge(t.last_seen, now)}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Paper>
          )}
        </>
      )}
    </Stack>
  );
}
