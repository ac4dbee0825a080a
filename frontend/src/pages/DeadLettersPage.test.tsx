import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, renderWithApp } from '../test/render';
import { DeadLettersPage } from './DeadLettersPage';

const dead = {
  items: [makeTask({ id: 5, state: 'dead', last_error: 'KeyError: user' }), makeTask({ id: 4, state: 'dead', last_error: 'boom' })],
  next_cursor: null,
};

function routes() {
  return {
    'GET /api/whoami': ADMIN,
    'GET /api/tasks': dead,
    'GET /api/analytics/types': { items: [] },
    'GET /api/tenants': { items: [] },
    'POST /api/tasks/5/retry': { ...dead.items[0], state: 'queued' },
    'POST /api/tasks/bulk/retry': { changed: 2, ids: [4, 5] },
  };
}

describe('DeadLettersPage', () => {
  it('lists only dead tasks, with their last error', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<DeadLettersPage />, { route: '/dead-letters' });
    expect(await screen.findByText('KeyError: user')).toBeInTheDocument();
    expect(calls.find((c) => c.url.pathname === '/api/tasks')?.url.searchParams.getAll('state')).toEqual(['dead']);
  });

  it('requeues one task', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<DeadLettersPage />, { route: '/dead-letters' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Requeue task 5' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/5/retry')).toBe(true));
  });

  it('requeues all dead tasks through the bulk filter', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<DeadLettersPage />, { route: '/dead-letters?tenant=acme' });
    const user = userEvent.setup();
    await screen.findByText('KeyError: user');
    await user.click(screen.getByRole('button', { name: 'Requeue all…' }));
    const dialog = await screen.findByRole('dialog');
    await user.click(within(dialog).getByRole('button', { name: 'Requeue all' }));
    await waitFor(() => expect(calls.some((c) => c.url.pathname === '/api/tasks/bulk/retry')).toBe(true));
    expect(calls.find((c) => c.url.pathname === '/api/tasks/bulk/retry')?.body).toEqual({ filter: { state: ['dead'], tenant: 'acme' } });
  });
});
