import { useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Code, CopyButton, Group, Modal, Paper, Select, Stack, Table, Text, TextInput } from '@mantine/core';
import { IconKey } from '@tabler/icons-react';
import { errorMessage } from '../api/client';
import { useApiKeys, useCreateKey, useRevokeKey, useTenants } from '../api/queries';
import type { ApiKey, CreatedKey } from '../api/types';
import { useCanAct } from '../auth/AuthProvider';
import { ConfirmModal } from '../components/ConfirmModal';
import { PageHeader } from '../components/PageHeader';
import { QueryState } from '../components/QueryState';
import { formatDateTime } from '../lib/format';
import { notifyError, notifySuccess } from '../lib/notify';

type KeyRole = 'admin' | 'reader' | 'tenant';

const ROLE_HELP: Record<KeyRole, string> = {
  admin: 'sees and changes everything',
  reader: 'sees what an admin sees, changes nothing',
  tenant: "sees and changes one tenant's tasks",
};

function CreateKeyModal({ opened, onClose, onCreated }: { opened: boolean; onClose: () => void; onCreated: (k: CreatedKey) => void }) {
  const create = useCreateKey();
  const tenants = useTenants(opened);
  const [role, setRole] = useState<KeyRole>('reader');
  const [tenant, setTenant] = useState<string | null>(null);
  const [name, setName] = useState('');
  const missingTenant = role === 'tenant' && !tenant;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (missingTenant) return;
    create.mutate(
      { role, name: name.trim(), ...(role === 'tenant' && tenant ? { tenant } : {}) },
      {
        onSuccess: (created) => {
          setName('');
          onCreated(created);
        },
      },
    );
  };

  return (
    <Modal opened={opened} onClose={onClose} title="Create API key" centered closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit}>
        <Stack>
          {create.error && <Alert color="red">{errorMessage(create.error)}</Alert>}
          <Select
            label="Role"
            data={(['reader', 'tenant', 'admin'] as KeyRole[]).map((r) => ({ value: r, label: `${r}: ${ROLE_HELP[r]}` }))}
            value={role}
            onChange={(v) => setRole((v ?? 'reader') as KeyRole)}
            allowDeselect={false}
            data-autofocus
          />
          {role === 'tenant' && (
            <Select
              label="Tenant"
              required
              searchable
              data={(tenants.data?.items ?? []).map((t) => t.name).sort()}
              value={tenant}
              onChange={setTenant}
            />
          )}
          <TextInput label="Name" description="What it is for, e.g. grafana or billing-worker" maxLength={128} value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" loading={create.isPending} disabled={missingTenant}>
              Create key
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function NewSecretModal({ created, onClose }: { created: CreatedKey | null; onClose: () => void }) {
  return (
    <Modal opened={created !== null} onClose={onClose} title="API key created" centered closeButtonProps={{ 'aria-label': 'Close' }}>
      <Stack>
        <Alert color="yellow" title="Copy this key now">
          It is shown once. Skiplock stores only a hash and cannot show it again.
        </Alert>
        <Code block className="wrap-anywhere" data-testid="new-key-secret">
          {created?.key ?? ''}
        </Code>
        <Group justify="flex-end">
          <CopyButton value={created?.key ?? ''}>
            {({ copied, copy }) => (
              <Button variant="light" onClick={copy}>
                {copied ? 'Copied' : 'Copy key'}
              </Button>
            )}
          </CopyButton>
          <Button onClick={onClose} data-autofocus>
            Done
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** API keys: who can reach this engine, when each key was last used, and revoking one. */
export function ApiKeysPage() {
  const list = useApiKeys();
  const revoke = useRevokeKey();
  const canAct = useCanAct();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const items = [...(list.data?.items ?? [])].sort((a, b) => Number(a.revoked_at !== null) - Number(b.revoked_at !== null) || b.id - a.id);

  return (
    <>
      <PageHeader
        title="API keys"
        description="Every key that can call this engine. Revoking one takes effect at once here and within 5 s on other instances."
        actions={
          canAct && (
            <Button leftSection={<IconKey size={16} aria-hidden />} onClick={() => setCreating(true)}>
              Create key
            </Button>
          )
        }
      />
      <QueryState isLoading={list.isLoading} error={list.error} label="API keys" />
      {list.data && (
        <Paper withBorder p="sm">
          <Table.ScrollContainer minWidth={760}>
            <Table striped aria-label="API keys">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Prefix</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Role</Table.Th>
                  <Table.Th>Tenant</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Last used</Table.Th>
                  <Table.Th>Status</Table.Th>
                  {canAct && <Table.Th aria-label="Actions" />}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((k) => (
                  <Table.Tr key={k.id} data-key-id={k.id}>
                    <Table.Td className="mono">{k.prefix}</Table.Td>
                    <Table.Td>{k.name || '—'}</Table.Td>
                    <Table.Td>{k.role}</Table.Td>
                    <Table.Td>{k.tenant ?? '—'}</Table.Td>
                    <Table.Td>{formatDateTime(k.created_at)}</Table.Td>
                    <Table.Td>{k.last_used_at ? formatDateTime(k.last_used_at) : 'never'}</Table.Td>
                    <Table.Td>
                      {k.revoked_at ? (
                        <Badge color="gray" variant="light" title={`Revoked ${formatDateTime(k.revoked_at)}`}>
                          revoked
                        </Badge>
                      ) : (
                        <Badge color="green" variant="light">
                          active
                        </Badge>
                      )}
                    </Table.Td>
                    {canAct && (
                      <Table.Td>
                        {!k.revoked_at && (
                          <Button size="compact-sm" variant="light" color="red" aria-label={`Revoke key ${k.prefix}`} onClick={() => setRevoking(k)}>
                            Revoke
                          </Button>
                        )}
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Paper>
      )}
      <CreateKeyModal
        opened={creating}
        onClose={() => setCreating(false)}
        onCreated={(k) => {
          setCreating(false);
          setCreated(k);
        }}
      />
      <NewSecretModal created={created} onClose={() => setCreated(null)} />
      <ConfirmModal
        opened={revoking !== null}
        title={`Revoke key ${revoking?.prefix ?? ''}?`}
        confirmLabel="Revoke key"
        color="red"
        loading={revoke.isPending}
        onClose={() => setRevoking(null)}
        onConfirm={() =>
          revoking &&
          revoke.mutate(revoking.id, {
            onSuccess: (k) => {
              setRevoking(null);
              notifySuccess(`Key ${k.prefix} revoked`);
            },
            onError: (err) => notifyError(err, 'Revoke failed'),
          })
        }
      >
        <Text size="sm">
          Every client and dashboard session using <span className="mono">{revoking?.prefix}</span>
          {revoking?.name ? ` (${revoking.name})` : ''}, a {revoking?.role} key{revoking?.tenant ? ` of ${revoking.tenant}` : ''}, is refused from
          now on. This cannot be undone.
        </Text>
      </ConfirmModal>
    </>
  );
}
