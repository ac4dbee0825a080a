import { Anchor, Badge, Group, Paper, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { Link } from 'react-router';
import type { WorkerInstance } from '../api/types';
import { ageSeconds, formatAge, formatDateTime, formatDuration } from '../lib/format';

/** Heartbeats older than this are flagged: the registry TTL defaults to 10 s. */
export const STALE_HEARTBEAT_S = 10;

export function WorkerCard({ instance, now }: { instance: WorkerInstance; now: number }) {
  const age = ageSeconds(instance.last_heartbeat, now);
  const stale = age !== null && age > STALE_HEARTBEAT_S;
  const pct = instance.slots > 0 ? (instance.busy / instance.slots) * 100 : 0;
  return (
    <Paper withBorder p="md" data-testid="worker-instance">
      <Group justify="space-between" align="flex-start" mb="sm" wrap="wrap">
        <Stack gap={2}>
          <Title order={2} size="h5" className="mono wrap-anywhere">
            {instance.id}
          </Title>
          <Text size="sm" c="dimmed">
            {instance.host} · up since {formatDateTime(instance.started_at)}
          </Text>
        </Stack>
        <Group gap={6}>
          {(instance.roles ?? []).map((role) => (
            <Badge key={role} variant="light" color="gray">
              {role}
            </Badge>
          ))}
          <Badge color={stale ? 'red' : 'green'} variant="light" title="Time since the last heartbeat">
            heartbeat {formatAge(instance.last_heartbeat, now)}
          </Badge>
        </Group>
      </Group>
      <Group gap="sm" mb="sm" wrap="nowrap">
        <Text size="sm" fw={600} w={120}>
          {instance.busy}/{instance.slots} slots busy
        </Text>
        <Progress value={pct} color="cyan" style={{ flex: 1 }} aria-label={`${instance.busy} of ${instance.slots} slots busy`} />
      </Group>
      {(instance.types ?? []).length > 0 && (
        <Text size="sm" mb="sm" data-testid="worker-types">
          <Text span c="dimmed" size="sm">
            Handles{' '}
          </Text>
          <span className="mono">{(instance.types ?? []).join(', ')}</span>
        </Text>
      )}
      {instance.tasks.length === 0 ? (
        <Text size="sm" c="dimmed">
          Idle.
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table verticalSpacing={4} aria-label={`Tasks running on ${instance.id}`}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Task</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Tenant</Table.Th>
                <Table.Th>Attempt</Table.Th>
                <Table.Th>Running for</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {instance.tasks.map((t) => (
                <Table.Tr key={t.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/tasks/${t.id}`} className="mono" size="sm">
                      #{t.id}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{t.type}</Table.Td>
                  <Table.Td>{t.tenant}</Table.Td>
                  <Table.Td>{t.attempt}</Table.Td>
                  <Table.Td>{formatDuration((ageSeconds(t.started_at, now) ?? 0) * 1000)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Paper>
  );
}
