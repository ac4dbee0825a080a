import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ApiKey } from '../api/types';
import { ADMIN, mockFetch, READER, renderWithApp } from '../test/render';
import { ApiKeysPage } from './ApiKeysPage';

const ops: ApiKey = { id: 7, prefix: 'ab12cd34ef', role: 'reader', tenant: null, name: 'grafana', created_at: '2026-11-28T08:00:00Z', revoked_at: null, last_used_at: null };
const old: ApiKey = { ...ops, id: 3, prefix: 'oldoldold1', name: 'old', revoked_at: '2026-11-29T08:00:00Z' };

function routes() {
  return {
    'GET /api/whoami': ADMIN,
    'GET /api/keys': { items: [old, ops] },
    'GET /api/tenants': { items: [] },
    'POST /api/keys': { ...ops, id: 8, prefix: 'newnewnew1', name: 'billing', key: 'sk_newnewnew1_secret' },
    'DELETE /api/keys/7': { ...ops, revoked_at: '2026-12-03T10:00:00Z' },
  };
}

describe('ApiKeysPage', () => {
  it('lists keys, creates one and shows its secret once, and revokes after confirmation', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<ApiKeysPage />, { route: '/api-keys' });
    const row = (await screen.findByText('grafana')).closest('tr') as HTMLElement;
    expect(row).toHaveTextContent('never');
    expect(row).toHaveTextContent('active');
    expect((screen.getByText('old').closest('tr') as HTMLElement)).toHaveTextContent('revoked');
    const user = userEvent.setup();

    await user.click(screen.getByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog', { name: 'Create API key' });
    await user.type(within(dialog).getByLabelText(/Name/), 'billing');
    await user.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(await screen.findByTestId('new-key-secret')).toHaveTextContent('sk_newnewnew1_secret');
    expect(calls.find((c) => c.method === 'POST' && c.url.pathname === '/api/keys')?.body).toEqual({ role: 'reader', name: 'billing' });
    await user.click(screen.getByRole('button', { name: 'Done' }));

    await user.click(within(row).getByRole('button', { name: 'Revoke key ab12cd34ef' }));
    const confirm = await screen.findByRole('dialog', { name: 'Revoke key ab12cd34ef?' });
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await user.click(within(confirm).getByRole('button', { name: 'Revoke key' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.url.pathname === '/api/keys/7')).toBe(true));
  });

  it('shows a reader the keys without the buttons that change them', async () => {
    mockFetch({ ...routes(), 'GET /api/whoami': READER });
    renderWithApp(<ApiKeysPage />, { route: '/api-keys', session: READER });
    await screen.findByText('grafana');
    expect(screen.queryByRole('button', { name: 'Create key' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Revoke/ })).toBeNull();
  });
});
