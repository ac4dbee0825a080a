import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeDetail } from '../test/fixtures';
import { ADMIN, jsonError, mockFetch, renderWithApp } from '../test/render';
import { TaskDetailPage } from './TaskDetailPage';

const hostile = '<img src=x onerror="window.__pwned=1">';
const detail = makeDetail({
  id: 42,
  state: 'dead',
  attempt: 2,
  max_attempts: 2,
  payload: { html: hostile },
  last_error: 'TimeoutError: took too long',
  lease_owner: null,
  attempts: [
    { attempt: 1, worker: 'host-a:1234:abcd', started_at: '2026-11-28T08:00:01Z', finished_at: '2026-11-28T08:00:03Z', outcome: 'failed', error: 'ValueError: bad input' },
    { attempt: 2, worker: 'host-b:99:ef01', started_at: '2026-11-28T08:00:10Z', finished_at: '2026-11-28T08:01:10Z', outcome: 'timeout', error: 'TimeoutError: took too long' },
  ],
});

describe('TaskDetailPage', () => {
  it('shows every attempt with its worker, outcome and error', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/tasks/42': detail });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/42', path: '/tasks/:id' });
    const attempts = await screen.findAllByTestId('attempt');
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toHaveTextContent('Attempt 1 · failed');
    expect(attempts[0]).toHaveTextContent('host-a:1234:abcd');
    expect(attempts[0]).toHaveTextContent('ValueError: bad input');
    expect(attempts[1]).toHaveTextContent('Attempt 2 · timeout');
    expect(attempts[1]).toHaveTextContent('(1m)');
    expect(screen.getByText('2 of 2')).toBeInTheDocument();
  });

  it('renders the payload as text, never as markup', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/tasks/42': detail });
    const { container } = renderWithApp(<TaskDetailPage />, { route: '/tasks/42', path: '/tasks/:id' });
    await screen.findAllByTestId('attempt');
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByText(/onerror/)).toHaveTextContent('"html": "<img src=x onerror=\\"window.__pwned=1\\">"');
  });

  it('requeues a dead task', async () => {
    const { calls } = mockFetch({
      'GET /api/whoami': ADMIN,
      'GET /api/tasks/42': detail,
      'POST /api/tasks/42/retry': { ...detail, state: 'queued' },
    });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/42', path: '/tasks/:id' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Requeue task' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/42/retry')).toBe(true));
    expect(screen.queryByRole('button', { name: 'Cancel task' })).toBeNull();
  });

  it('explains a task that is missing or belongs to another tenant', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/tasks/7': () => jsonError(404, 'not_found', 'no such task') });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/7', path: '/tasks/:id' });
    expect(await screen.findByText(/does not exist or belongs to another tenant/)).toBeInTheDocument();
  });
});
