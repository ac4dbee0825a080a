import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, READER, renderWithApp } from '../test/render';
import { DeadLettersPage } from './DeadLettersPage';

const dead = {
  items: [
    makeTask({ id: 5, state: 'dead', last_error: 'KeyError: user', finished_at: '2026-11-28T09:15:00Z', payload: { user: 'u-17' } }),
    makeTask({ id: 4, state: 'dead', last_error: 'boom' }),
  ],
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
    const row = screen.getByText('#5').closest('tr') as HTMLElement;
    expect(within(row).getByTestId('payload')).toHaveTextContent('{"user":"u-17"}');
    expect(within(row).getByTestId('died-at')).not.toHaveTextContent('—');
    expect(screen.getByRole('columnheader', { name: 'Died' })).toBeInTheDocument();
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
    expect(await within(dialog).findByTestId('bulk-preview')).toHaveTextContent('2 tasks will be requeued.');
    await user.click(within(dialog).getByRole('button', { name: 'Requeue all' }));
    const bulk = () => calls.filter((c) => c.url.pathname === '/api/tasks/bulk/retry');
    await waitFor(() => expect(bulk()).toHaveLength(2));
    expect(bulk().map((c) => c.body)).toEqual([
      { filter: { state: ['dead'], tenant: 'acme' }, dry_run: true },
      { filter: { state: ['dead'], tenant: 'acme' } },
    ]);
  });

  it('announces new dead letters instead of shifting the rows, and shows them on request', async () => {
    let ids = [5, 4];
    mockFetch({
      ...routes(),
      'GET /api/tasks': (url: URL) => {
        const below = Number(url.searchParams.get('cursor') ?? Infinity);
        return { items: ids.filter((id) => id < below).map((id) => makeTask({ id, state: 'dead' })), next_cursor: null };
      },
    });
    const { queryClient } = renderWithApp(<DeadLettersPage />, { route: '/dead-letters' });
    await screen.findByRole('link', { name: '#5' });
    ids = [7, 6, 5, 4];
    await act(() => queryClient.invalidateQueries());
    expect(await screen.findByTestId('new-rows')).toHaveTextContent('2 new — show');
    expect(screen.getAllByRole('link', { name: /^#\d+$/ })[0]).toHaveTextContent('#5');
    const user = userEvent.setup();
    await user.click(screen.getByTestId('new-rows'));
    expect(await screen.findByRole('link', { name: '#7' })).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByTestId('new-rows')).toBeNull());
  });

  it('pauses live updates, for a reader too: the list is frozen until resumed', async () => {
    mockFetch({ ...routes(), 'GET /api/whoami': READER });
    const { queryClient } = renderWithApp(<DeadLettersPage />, { route: '/dead-letters', session: READER });
    await screen.findByText('KeyError: user');
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Pause live updates' }));
    expect(screen.getByTestId('live-paused')).toBeInTheDocument();
    const lists = queryClient.getQueryCache().findAll({ queryKey: ['tasks', 'list'] }).filter((q) => q.getObserversCount() > 0);
    expect(lists.length).toBeGreaterThan(0);
    expect(lists.every((q) => (q.meta as { frozen?: boolean } | undefined)?.frozen)).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Resume live updates' }));
    expect(screen.queryByTestId('live-paused')).toBeNull();
  });
});
