import { useState, type FormEvent } from 'react';
import {
  Alert,
  Autocomplete,
  Button,
  Group,
  List,
  Loader,
  Modal,
  SegmentedControl,
  Select,
  Stack,
  Text,
  Textarea,
  TextInput,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useTaskTypes } from '../api/queries';
import { useCreateSchedule, useSchedulePreview } from '../api/schedules';
import type { CatchUp, Schedule } from '../api/types';
import { formatDateTime } from '../lib/format';
import {
  createBody,
  EMPTY_FORM,
  fieldErrors,
  localErrors,
  previewBody,
  type ScheduleForm,
  type TimingKind,
} from '../lib/scheduleForm';

// Long enough not to ask on every keystroke, short enough to feel live.
export const PREVIEW_DEBOUNCE_MS = 400;

const CATCH_UP: { value: CatchUp; label: string }[] = [
  { value: 'one', label: 'One: fire the latest missed tick once' },
  { value: 'none', label: 'None: skip missed ticks' },
  { value: 'all', label: 'All: fire each missed tick (at most 100)' },
];

/** The next five fire times, as the server computes them for the timing being typed. */
function Preview({ asked, preview, rest }: { asked: boolean; preview: ReturnType<typeof useSchedulePreview>; rest: string | null }) {
  return (
    <Stack gap={4} data-testid="schedule-preview" aria-live="polite">
      <Text size="sm" fw={600}>
        Next fire times
      </Text>
      {!asked && (
        <Text size="sm" c="dimmed">
          Give a cron expression or an interval.
        </Text>
      )}
      {asked && preview.isFetching && !preview.data && <Loader size="xs" aria-label="Loading preview" />}
      {rest && (
        <Text size="sm" c="red">
          {rest}
        </Text>
      )}
      {asked && preview.data && !preview.error && (
        <List size="sm" spacing={2} aria-label="Next fire times">
          {preview.data.next.map((at) => (
            <List.Item key={at}>
              <time dateTime={at}>{formatDateTime(at)}</time>
            </List.Item>
          ))}
        </List>
      )}
    </Stack>
  );
}

export function CreateScheduleModal({
  opened,
  withTenant,
  onClose,
  onCreated,
}: {
  opened: boolean;
  /** Admin keys choose the tenant; a tenant key's schedules are its own. */
  withTenant: boolean;
  onClose: () => void;
  onCreated: (s: Schedule) => void;
}) {
  const create = useCreateSchedule();
  const types = useTaskTypes();
  const [form, setForm] = useState<ScheduleForm>(EMPTY_FORM);
  // Asked of the server as the timing is typed, once typing pauses.
  const [asked] = useDebouncedValue(previewBody(form), PREVIEW_DEBOUNCE_MS);
  const preview = useSchedulePreview(asked);
  const previewErrors = fieldErrors(preview.error);
  const set = <K extends keyof ScheduleForm>(key: K, value: ScheduleForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const local = localErrors(form);
  const server = fieldErrors(create.error);
  // A field's error: the browser's own check, else the last create's, else the preview's.
  const errorOf = (field: string) => local[field] ?? server.fields[field] ?? previewErrors.fields[field];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (Object.keys(local).length > 0) return;
    create.mutate(createBody(form, { withTenant }), {
      onSuccess: (created) => {
        setForm(EMPTY_FORM);
        create.reset();
        onCreated(created);
      },
    });
  };

  return (
    <Modal opened={opened} onClose={onClose} title="Create schedule" centered size="lg">
      <form onSubmit={submit} noValidate>
        <Stack>
          {server.rest && (
            <Alert color="red" role="alert">
              {server.rest}
            </Alert>
          )}
          <TextInput label="Name" required value={form.name} error={errorOf('name')} onChange={(e) => set('name', e.currentTarget.value)} data-autofocus />
          <Autocomplete
            label="Task type"
            required
            data={(types.data?.types ?? []).map((t) => t.name)}
            value={form.type}
            error={errorOf('type')}
            onChange={(v) => set('type', v)}
          />
          {withTenant && (
            <TextInput label="Tenant" description="Empty: the default tenant" value={form.tenant} error={errorOf('tenant')} onChange={(e) => set('tenant', e.currentTarget.value)} />
          )}
          <SegmentedControl
            aria-label="Timing"
            value={form.kind}
            onChange={(v) => set('kind', v as TimingKind)}
            data={[
              { value: 'cron', label: 'Cron' },
              { value: 'every', label: 'Every N seconds' },
            ]}
          />
          {form.kind === 'cron' ? (
            <TextInput
              label="Cron"
              description="5 fields (minute hour day month weekday), or 6 with seconds first"
              className="mono"
              value={form.cron}
              error={errorOf('cron')}
              onChange={(e) => set('cron', e.currentTarget.value)}
            />
          ) : (
            <TextInput label="Every (seconds)" inputMode="numeric" value={form.everyS} error={errorOf('every_s')} onChange={(e) => set('everyS', e.currentTarget.value)} />
          )}
          <TextInput label="Time zone" description="IANA name, e.g. Europe/Berlin" value={form.timezone} error={errorOf('timezone')} onChange={(e) => set('timezone', e.currentTarget.value)} />
          <Preview asked={asked !== null} preview={preview} rest={previewErrors.rest} />
          <Select label="After downtime" data={CATCH_UP} value={form.catchUp} allowDeselect={false} onChange={(v) => set('catchUp', (v ?? 'one') as CatchUp)} />
          <Textarea label="Payload" description="JSON; empty for none" rows={3} className="mono" value={form.payload} error={errorOf('payload')} onChange={(e) => set('payload', e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" loading={create.isPending} disabled={!form.name.trim() || !form.type.trim()}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
