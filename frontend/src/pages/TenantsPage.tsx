import { useState } from 'react';
import { Button, Group, Paper, Table, Text } from '@mantine/core';
import { IconPlus } from '@tabler/icons-react';
import { useQueueStats, useTenantAction, useTenants, type TenantAction } from '../api/queries';
import { useCanAct } from '../auth/AuthProvider';
import type { CreatedTenant, QueueStatsRow, Tenant } from '../api/types';
import { ConfirmModal } from '../components/ConfirmModal';
import { PageHeader } from '../components/PageHeader';
import { QueryState } from '../components/QueryState';
import { TenantStateBadge } from '../components/StateBadge';
import { CreateTenantModal, EditTenantModal, formatRateLimit, NewKeyModal } from '../components/TenantForms';
import { formatCount, formatDuration } from '../lib/format';
import { notifyError, notifySuccess } from '../lib/notify';

/** What pausing or draining does, said before it is done (resuming needs no confirmation). */
const EFFECT: Partial<Record<TenantAction, string>> = {
  pause: 'No task of this tenant will be claimed until it is resumed; it still accepts new tasks, and running tasks finish.',
  drain: 'New tasks for this tenant will be refused (409); the tasks already queued still run.',
};

function TenantImpact({ tenant, row }: { tenant: Tenant; row: QueueStatsRow | undefined }) {
  const figures: [string, number | undefined][] = [
    ['queued', row?.queued ?? tenant.queued],
    ['scheduled', row?.scheduled],
    ['retrying', row?.retrying],
    ['running', row?.running ?? tenant.running],
  ];
  return (
    <Text size="sm" component="div" data-testid="tenant-impact">
      {tenant.name} has{' '}
      {figures.map(([label, n], i) => (
        <span key={label}>
          <strong>{formatCount(n)}</strong> {label}
          {i < figures.length - 2 ? ', ' : i === figures.length - 2 ? ' and ' : ''}
        </span>
      ))}{' '}
      tasks now.
    </Text>
  );
}

const ACTIONS: { action: TenantAction; label: string; when: (t: Tenant) => boolean; color?: string }[] = [
  { action: 'pause', label: 'Pause', when: (t) => t.state === 'active', color: 'yellow' },
  { action: 'resume', label: 'Resume', when: (t) => t.state !== 'active', color: 'green' },
  { action: 'drain', label: 'Drain', when: (t) => t.state !== 'draining', color: 'orange' },
];

export function TenantsPage() {
  const tenants = useTenants();
  const stats = useQueueStats();
  const act = useTenantAction();
  const canAct = useCanAct();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedTenant | null>(null);
  const [editing, setEditing] = useState<Tenant | null>(null);
  const [confirming, setConfirming] = useState<{ tenant: Tenant; action: TenantAction } | null>(null);
  const byName = new Map((stats.data?.tenants ?? []).map((row) => [row.tenant, row]));
  const items = [...(tenants.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name));

  const run = (tenant: Tenant, action: TenantAction) =>
    act.mutate(
      { name: tenant.name, action },
      {
        onSuccess: (t) => {
          setConfirming(null);
          notifySuccess(`${t.name} is now ${t.state}`);
        },
        onError: (err) => notifyError(err, `Could not ${action} ${tenant.name}`),
      },
    );

  return (
    <>
      <PageHeader
        title="Tenants"
        description="Weights share worker capacity; rate limits cap admitted cost. Paused tenants keep accepting tasks but none run; draining tenants refuse new tasks."
        actions={
          canAct && (
            <Button leftSection={<IconPlus size={16} />} onClick={() => setCreating(true)}>
              Create tenant
            </Button>
          )
        }
      />
      <QueryState isLoading={tenants.isLoading} error={tenants.error} label="tenants" />
      {tenants.data && (
        <Paper withBorder p="sm">
          <Table.ScrollContainer minWidth={900}>
            <Table striped aria-label="Tenants">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Tenant</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th ta="right">Weight</Table.Th>
                  <Table.Th>Rate limit</Table.Th>
                  <Table.Th ta="right">Queued</Table.Th>
                  <Table.Th ta="right">Scheduled</Table.Th>
                  <Table.Th ta="right">Retrying</Table.Th>
                  <Table.Th ta="right">Running</Table.Th>
                  <Table.Th ta="right">Oldest wait</Table.Th>
                  {canAct && <Table.Th>Actions</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((t) => {
                  const row = byName.get(t.name);
                  return (
                    <Table.Tr key={t.name} data-tenant={t.name}>
                      <Table.Td fw={600}>{t.name}</Table.Td>
                      <Table.Td>
                        <Group gap={4}>
                          <TenantStateBadge state={t.state} />
                          {t.state === 'draining' && t.drained && (
                            <Text size="xs" c="dimmed">
                              drained
                            </Text>
                          )}
                        </Group>
                      </Table.Td>
                      <Table.Td ta="right">{t.weight}</Table.Td>
                      <Table.Td className="mono">{formatRateLimit(t) || '—'}</Table.Td>
                      <Table.Td ta="right">{formatCount(row?.queued ?? t.queued)}</Table.Td>
                      <Table.Td ta="right">{formatCount(row?.scheduled)}</Table.Td>
                      <Table.Td ta="right">{formatCount(row?.retrying)}</Table.Td>
                      <Table.Td ta="right">{formatCount(row?.running ?? t.running)}</Table.Td>
                      <Table.Td ta="right">{row?.oldest_queued_age_s && row.queued > 0 ? formatDuration(row.oldest_queued_age_s * 1000) : '—'}</Table.Td>
                      {canAct && (
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          {ACTIONS.filter((a) => a.when(t)).map((a) => (
                            <Button
                              key={a.action}
                              size="compact-sm"
                              variant="light"
                              color={a.color}
                              aria-label={`${a.label} ${t.name}`}
                              disabled={act.isPending}
                              onClick={() => (EFFECT[a.action] ? setConfirming({ tenant: t, action: a.action }) : run(t, a.action))}
                            >
                              {a.label}
                            </Button>
                          ))}
                          <Button size="compact-sm" variant="default" aria-label={`Edit ${t.name}`} onClick={() => setEditing(t)}>
                            Edit
                          </Button>
                        </Group>
                      </Table.Td>
                      )}
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Paper>
      )}
      <CreateTenantModal
        opened={creating}
        onClose={() => setCreating(false)}
        onCreated={(c) => {
          setCreating(false);
          setCreated(c);
        }}
      />
      <ConfirmModal
        opened={confirming !== null}
        title={confirming ? `${confirming.action === 'pause' ? 'Pause' : 'Drain'} ${confirming.tenant.name}?` : ''}
        confirmLabel={confirming?.action === 'pause' ? 'Pause tenant' : 'Drain tenant'}
        color={confirming?.action === 'pause' ? 'yellow' : 'orange'}
        loading={act.isPending}
        onConfirm={() => confirming && run(confirming.tenant, confirming.action)}
        onClose={() => setConfirming(null)}
      >
        {confirming && (
          <>
            <TenantImpact tenant={confirming.tenant} row={byName.get(confirming.tenant.name)} />
            <Text size="sm" mt="xs">
              {EFFECT[confirming.action]}
            </Text>
          </>
        )}
      </ConfirmModal>
      <NewKeyModal created={created} onClose={() => setCreated(null)} />
      <EditTenantModal tenant={editing} onClose={() => setEditing(null)} />
    </>
  );
}
