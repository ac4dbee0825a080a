import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Schedule, Whoami } from '../api/types';
import { makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, renderWithApp, TENANT } from '../test/render';
import { SCHEDULES_TITLE, SchedulesPage } from './SchedulesPage';

const READER: Whoami = { role: 'reader', tenant: null, key_prefix: 'sk_read' };

const nightly: Schedule = {
  name: 'nightly', tenant: 'acme', type: 'report', payload: null, cron: '0 3 * * *', every_s: null,
  timezone: 'Europe/Berlin', priority: 0, cost: null, max_attempts: null, timeout_s: null, catch_up: 'one',
  enabled: true, next_run_at: '2026-12-04T02:00:00Z', last_run_at: '2026-12-03T02:00:00Z', last_task_id: 41,
  created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z',
};
const ping: Schedule = { ...nightly, name: 'ping', type: 'noop', cron: null, every_s: 30, timezone: 'UTC', enabled: false, next_run_at: null, last_run_at: null, last_task_id: null };

const NEXT = ['2026-12-03T12:05:00Z', '2026-12-03T12:10:00Z', '2026-12-03T12:15:00Z', '2026-12-03T12:20:00Z', '2026-12-03T12:25:00Z'];

function routes(who: Whoami = ADMIN) {
  return {
    'GET /api/whoami': who,
    'GET /api/schedules': { items: [ping, nightly] },
    'GET /api/task-types': { types: [] },
    'POST /api/schedules/nightly/pause': { ...nightly, enabled: false, next_run_at: null },
    'POST /api/schedules/nightly/trigger': makeTask({ id: 99, schedule: 'nightly', type: 'report' }),
    'DELETE /api/schedules/ping': ping,
    'POST /api/schedules/preview': (_: URL, init: RequestInit) => {
      const body = JSON.parse(String(init.body)) as { cron?: string };
      if (body.cron === 'bad') {
        return new Response(JSON.stringify({ error: 'validation_error', message: 'cron: Bad minute', fields: [{ field: 'cron', message: 'Bad minute' }] }), { status: 422 });
      }
      return { next: NEXT };
    },
    'POST /api/schedules': (_: URL, init: RequestInit) => ({ ...nightly, ...(JSON.parse(String(init.body)) as object) }),
  };
}

function render(who: Whoami = ADMIN) {
  return renderWithApp(<SchedulesPage />, { route: '/schedules', session: who });
}

describe('SchedulesPage', () => {
  beforeEach(() => {
    document.title = '';
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists schedules with timing, next and last run, and links the last task', async () => {
    mockFetch(routes());
    render();
    expect(screen.getByRole('heading', { level: 1, name: 'Schedules' })).toBeInTheDocument();
    expect(document.title).toBe(SCHEDULES_TITLE);
    const row = (await screen.findByText('nightly')).closest('tr') as HTMLElement;
    expect(row).toHaveTextContent('0 3 * * * (Europe/Berlin)');
    expect(row).toHaveTextContent('acme');
    expect(within(row).getByRole('link', { name: 'Last task of nightly' })).toHaveAttribute('href', '/tasks/41');
    expect(within(row).getByRole('button', { name: 'Pause nightly' })).toBeInTheDocument();
    const paused = screen.getByText('ping').closest('tr') as HTMLElement;
    expect(paused).toHaveTextContent('every 30 s');
    expect(within(paused).getByTestId('next-run')).toHaveTextContent('—');
    expect(within(paused).getByRole('button', { name: 'Resume ping' })).toBeInTheDocument();
  });

  it('pauses, and triggers one now showing the task it created', async () => {
    const { calls } = mockFetch(routes());
    render();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Pause nightly' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/schedules/nightly/pause')).toBe(true));
    await user.click(screen.getByRole('button', { name: 'Trigger nightly now' }));
    const fired = await screen.findByTestId('triggered');
    expect(within(fired).getByRole('link', { name: 'task #99' })).toHaveAttribute('href', '/tasks/99');
  });

  it('deletes only after confirmation', async () => {
    const { calls } = mockFetch(routes());
    render();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Delete ping' }));
    const dialog = await screen.findByRole('dialog');
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Delete schedule' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.url.pathname === '/api/schedules/ping')).toBe(true));
  });

  it('previews the next five fire times and names the field of a bad cron', async () => {
    const { calls } = mockFetch(routes());
    render();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create schedule' }));
    const dialog = await screen.findByRole('dialog');
    const preview = within(dialog).getByTestId('schedule-preview');
    await waitFor(() => expect(within(preview).getAllByRole('listitem')).toHaveLength(5));
    const cron = within(dialog).getByRole('textbox', { name: /^Cron/ });
    await user.clear(cron);
    await user.type(cron, 'bad');
    expect(await within(dialog).findByText('Bad minute')).toBeInTheDocument();
    expect(cron).toHaveAttribute('aria-invalid', 'true');
    // Debounced: typing "bad" asked about "bad" once, not about "b" and "ba".
    const asked = calls.filter((c) => c.url.pathname === '/api/schedules/preview').map((c) => (c.body as { cron: string }).cron);
    expect(asked).not.toContain('b');
    expect(asked).not.toContain('ba');
    expect(asked.filter((c) => c === 'bad')).toHaveLength(1);
  });

  it('creates a schedule with the body the API expects', { timeout: 20_000 }, async () => {
    const { calls } = mockFetch(routes());
    render();
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create schedule' }));
    const dialog = await screen.findByRole('dialog');
    await user.click(within(dialog).getByLabelText(/^Name/));
    await user.paste('hourly');
    await user.click(within(dialog).getByLabelText(/^Task type/));
    await user.paste('noop');
    await user.click(within(dialog).getByLabelText(/^Tenant/));
    await user.paste('acme');
    await user.click(within(dialog).getByText('Every N seconds'));
    const every = within(dialog).getByRole('textbox', { name: /^Every \(seconds\)/ });
    await user.clear(every);
    await user.type(every, '3600');
    await user.click(within(dialog).getByLabelText(/^Payload/));
    await user.paste('{"k": 1}');
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'POST' && c.url.pathname === '/api/schedules')?.body).toEqual({
      name: 'hourly', type: 'noop', tenant: 'acme', every_s: 3600, timezone: 'UTC', catch_up: 'one', payload: { k: 1 },
    }));
  });

  it('shows a tenant key its schedules without a tenant column or field', async () => {
    mockFetch(routes(TENANT));
    render(TENANT);
    await screen.findByText('nightly');
    expect(screen.queryByRole('columnheader', { name: 'Tenant' })).toBeNull();
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).queryByLabelText(/^Tenant/)).toBeNull();
  });

  it('gives a reader key no action buttons', async () => {
    mockFetch(routes(READER));
    render(READER);
    await screen.findByText('nightly');
    expect(screen.queryByRole('button', { name: /Pause|Resume|Trigger|Delete|Create/ })).toBeNull();
    expect(screen.queryByRole('columnheader', { name: 'Actions' })).toBeNull();
  });
});
