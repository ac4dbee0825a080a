import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Tenant } from '../api/types';
import { ADMIN, mockFetch, renderWithApp } from '../test/render';
import { TenantsPage } from './TenantsPage';

const acme: Tenant = {
  id: 1, name: 'acme', weight: 3, state: 'active', rate_limit: { cost: 100, window_s: 60 },
  queued: 12, running: 2, drained: false, created_at: '2026-11-28T08:00:00Z',
};
const globex: Tenant = { ...acme, id: 2, name: 'globex', weight: 1, state: 'paused', rate_limit: null, queued: 0, running: 0 };

function routes() {
  return {
    'GET /api/whoami': ADMIN,
    'GET /api/tenants': { items: [acme, globex] },
    'GET /api/queue/stats': {
      tenants: [{ tenant: 'acme', state: 'active', weight: 3, queued: 12, scheduled: 4, running: 2, retrying: 1, oldest_queued_age_s: 90, drained: false }],
      totals: { queued: 12, scheduled: 4, running: 2, retrying: 1 },
      oldest_queued_age_s: 90,
    },
    'POST /api/tenants/acme/pause': { ...acme, state: 'paused' },
    'POST /api/tenants': { tenant: { ...acme, id: 3, name: 'initech' }, api_key: 'sk_initech_0123456789abcdef' },
  };
}

describe('TenantsPage', () => {
  it('shows weight, rate limit and queue depth per tenant', async () => {
    mockFetch(routes());
    renderWithApp(<TenantsPage />, { route: '/tenants' });
    const row = (await screen.findByText('acme')).closest('tr') as HTMLElement;
    expect(row).toHaveTextContent('100/60');
    await waitFor(() => expect(row).toHaveTextContent('1m 30s'));
    expect(within(row).getByRole('button', { name: 'Pause acme' })).toBeInTheDocument();
    const paused = screen.getByText('globex').closest('tr') as HTMLElement;
    expect(within(paused).getByRole('button', { name: 'Resume globex' })).toBeInTheDocument();
  });

  it('pauses a tenant only after a confirmation that shows what it holds', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TenantsPage />, { route: '/tenants' });
    const user = userEvent.setup();
    const row = (await screen.findByText('acme')).closest('tr') as HTMLElement;
    await waitFor(() => expect(row).toHaveTextContent('1m 30s'));
    await user.click(within(row).getByRole('button', { name: 'Pause acme' }));
    const dialog = await screen.findByRole('dialog', { name: 'Pause acme?' });
    expect(within(dialog).getByTestId('tenant-impact')).toHaveTextContent('acme has 12 queued, 4 scheduled, 1 retrying and 2 running tasks now.');
    expect(within(dialog).getByRole('button', { name: 'Close' })).toBeInTheDocument();
    const paused = () => calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tenants/acme/pause');
    expect(paused()).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Keep as is' }));
    expect(paused()).toBe(false);
    await user.click(within(row).getByRole('button', { name: 'Pause acme' }));
    await user.click(within(await screen.findByRole('dialog', { name: 'Pause acme?' })).getByRole('button', { name: 'Pause tenant' }));
    await waitFor(() => expect(paused()).toBe(true));
  });

  it('resumes a tenant at once: nothing to lose', async () => {
    const { calls } = mockFetch({ ...routes(), 'POST /api/tenants/globex/resume': { ...globex, state: 'active' } });
    renderWithApp(<TenantsPage />, { route: '/tenants' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Resume globex' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tenants/globex/resume')).toBe(true));
  });

  it('refuses a weight out of range with a message instead of clamping it', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TenantsPage />, { route: '/tenants' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Edit acme' }));
    const dialog = await screen.findByRole('dialog', { name: 'Edit acme' });
    const weight = within(dialog).getByRole('textbox', { name: /Weight/ });
    await user.clear(weight);
    await user.type(weight, '5000');
    await user.tab();
    expect(weight).toHaveValue('5000');
    expect(within(dialog).getByText('Weight must be a whole number from 1 to 1000 (got 5000)')).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'Save' })).toBeDisabled();
    expect(calls.some((c) => c.method === 'PATCH')).toBe(false);
  });

  it('creates a tenant and shows its key once', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TenantsPage />, { route: '/tenants' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create tenant' }));
    const dialog = await screen.findByRole('dialog');
    await user.type(within(dialog).getByLabelText(/Name/), 'initech');
    await user.type(within(dialog).getByLabelText(/Rate limit/), '50/10');
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(await screen.findByTestId('new-api-key')).toHaveTextContent('sk_initech_0123456789abcdef');
    expect(calls.find((c) => c.method === 'POST' && c.url.pathname === '/api/tenants')?.body).toEqual({
      name: 'initech',
      weight: 1,
      rate_limit: '50/10',
    });
    await user.click(screen.getByRole('button', { name: 'Done' }));
    await waitFor(() => expect(screen.queryByTestId('new-api-key')).toBeNull());
  });
});
