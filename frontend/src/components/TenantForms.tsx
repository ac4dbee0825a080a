import { useState, type FormEvent } from 'react';
import { Alert, Button, Code, CopyButton, Group, Modal, NumberInput, Stack, Text, TextInput } from '@mantine/core';
import { errorMessage } from '../api/client';
import { useCreateTenant, useUpdateTenant } from '../api/queries';
import type { CreatedTenant, Tenant } from '../api/types';

const RATE_LIMIT = /^\d+\/\d+(\.\d+)?$/;

function rateLimitError(value: string): string | null {
  return value.trim() === '' || RATE_LIMIT.test(value.trim()) ? null : 'Use COST/SECONDS, e.g. 100/60';
}

export const MAX_WEIGHT = 1000;

/** Refuse, never clamp: a weight of 5000 saved as 1000 would be a silent surprise. */
export function weightError(value: number | string): string | null {
  const n = typeof value === 'number' ? value : Number(value);
  if (value === '' || !Number.isInteger(n) || n < 1 || n > MAX_WEIGHT) {
    return `Weight must be a whole number from 1 to ${MAX_WEIGHT}${value === '' ? '' : ` (got ${value})`}`;
  }
  return null;
}

function WeightInput({ value, onChange, description }: { value: number | string; onChange: (v: number | string) => void; description?: string }) {
  return (
    <NumberInput
      label="Weight"
      description={description}
      min={1}
      max={MAX_WEIGHT}
      clampBehavior="none"
      allowDecimal={false}
      value={value}
      error={weightError(value)}
      onChange={onChange}
    />
  );
}

export function formatRateLimit(tenant: Pick<Tenant, 'rate_limit'>): string {
  return tenant.rate_limit ? `${tenant.rate_limit.cost}/${tenant.rate_limit.window_s}` : '';
}

export function CreateTenantModal({ opened, onClose, onCreated }: { opened: boolean; onClose: () => void; onCreated: (c: CreatedTenant) => void }) {
  const create = useCreateTenant();
  const [name, setName] = useState('');
  const [weight, setWeight] = useState<number | string>(1);
  const [rate, setRate] = useState('');
  const rateError = rateLimitError(rate);
  const invalid = Boolean(rateError) || weightError(weight) !== null;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || invalid) return;
    create.mutate(
      { name: name.trim(), weight: Number(weight), ...(rate.trim() ? { rate_limit: rate.trim() } : {}) },
      {
        onSuccess: (created) => {
          setName('');
          setWeight(1);
          setRate('');
          onCreated(created);
        },
      },
    );
  };

  return (
    <Modal opened={opened} onClose={onClose} title="Create tenant" centered>
      <form onSubmit={submit}>
        <Stack>
          {create.error && <Alert color="red">{errorMessage(create.error)}</Alert>}
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} data-autofocus />
          <WeightInput value={weight} onChange={setWeight} description="Share of worker capacity while backlogged (1-1000)" />
          <TextInput label="Rate limit" description="COST/SECONDS; empty for none" placeholder="100/60" value={rate} error={rateError} onChange={(e) => setRate(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" loading={create.isPending} disabled={!name.trim() || invalid}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function EditTenantModal({ tenant, onClose }: { tenant: Tenant | null; onClose: () => void }) {
  const update = useUpdateTenant();
  const [weight, setWeight] = useState<number | string>(tenant?.weight ?? 1);
  const [rate, setRate] = useState(tenant ? formatRateLimit(tenant) : '');
  const [forName, setForName] = useState<string | null>(tenant?.name ?? null);
  if (tenant && tenant.name !== forName) {
    // A different tenant was opened: start from its values.
    setForName(tenant.name);
    setWeight(tenant.weight);
    setRate(formatRateLimit(tenant));
  }
  const rateError = rateLimitError(rate);
  const invalid = Boolean(rateError) || weightError(weight) !== null;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!tenant || invalid) return;
    update.mutate({ name: tenant.name, patch: { weight: Number(weight), rate_limit: rate.trim() || null } }, { onSuccess: onClose });
  };

  return (
    <Modal opened={tenant !== null} onClose={onClose} title={`Edit ${tenant?.name ?? ''}`} centered>
      <form onSubmit={submit}>
        <Stack>
          {update.error && <Alert color="red">{errorMessage(update.error)}</Alert>}
          <WeightInput value={weight} onChange={setWeight} description="1-1000" />
          <TextInput label="Rate limit" description="COST/SECONDS; empty removes the limit" value={rate} error={rateError} onChange={(e) => setRate(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" loading={update.isPending} disabled={invalid}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The only time a tenant's key is ever shown: the server keeps just its hash. */
export function NewKeyModal({ created, onClose }: { created: CreatedTenant | null; onClose: () => void }) {
  return (
    <Modal opened={created !== null} onClose={onClose} title={`Tenant ${created?.tenant.name ?? ''} created`} centered>
      <Stack>
        <Alert color="yellow" title="Copy this key now">
          It is shown once. Skiplock stores only a hash and cannot show it again.
        </Alert>
        <Code block className="wrap-anywhere" data-testid="new-api-key">
          {created?.api_key ?? ''}
        </Code>
        <Group justify="flex-end">
          <CopyButton value={created?.api_key ?? ''}>
            {({ copied, copy }) => (
              <Button variant="light" onClick={copy}>
                {copied ? 'Copied' : 'Copy key'}
              </Button>
            )}
          </CopyButton>
          <Button onClick={onClose}>Done</Button>
        </Group>
        <Text size="xs" c="dimmed">
          Use it as <span className="mono">Authorization: Bearer &lt;key&gt;</span> or sign in to this dashboard with it.
        </Text>
      </Stack>
    </Modal>
  );
}
