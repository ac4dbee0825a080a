import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeDetail } from '../test/fixtures';
import { ADMIN, jsonError, mockFetch, READER, renderWithApp } from '../test/render';
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
    expect(screen.getByTestId('attempt-label')).toHaveTextContent('2 of 2');
  });

  it('folds each failed attempt\'s traceback and marks a manual requeue with who did it', async () => {
    const requeued = makeDetail({
      ...detail,
      state: 'queued',
      attempt: 2,
      attempts_used: 0,
      attempt_base: 2,
      requeued_at: '2026-11-28T09:00:00Z',
      requeued_by: "admin key 'ops' (ab12cd)",
      attempts: [
        { attempt: 1, worker: 'host-a:1234:abcd', started_at: '2026-11-28T08:00:01Z', finished_at: '2026-11-28T08:00:03Z', outcome: 'failed', error: 'ValueError: bad input', traceback: 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad input' },
        { attempt: 2, worker: 'host-b:99:ef01', started_at: '2026-11-28T08:00:10Z', finished_at: '2026-11-28T08:01:10Z', outcome: 'timeout', error: 'TimeoutError: took too long' },
      ],
    });
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/tasks/42': requeued });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/42', path: '/tasks/:id' });
    const [trace] = await screen.findAllByTestId('traceback');
    expect(trace).not.toHaveAttribute('open');
    expect(trace).toHaveTextContent('File "app.py", line 3');
    expect(screen.getAllByTestId('traceback')).toHaveLength(1);
    const mark = screen.getByTestId('requeue-mark');
    expect(mark).toHaveTextContent("admin key 'ops' (ab12cd)");
    // After both earlier attempts: nothing has run since.
    const items = [...document.querySelectorAll('[data-testid="attempt"], [data-testid="requeue-mark"]')];
    expect(items.map((el) => el.getAttribute('data-testid'))).toEqual(['attempt', 'attempt', 'requeue-mark']);
    expect(screen.getByTestId('attempt-label')).toHaveTextContent('0 of 2 after requeue (2 in all)');
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

  it('runs a scheduled task now, and offers no actions to a read-only key', async () => {
    const scheduled = makeDetail({ id: 43, state: 'scheduled', run_at: '2030-01-01T00:00:00Z' });
    const { calls } = mockFetch({
      'GET /api/whoami': ADMIN,
      'GET /api/tasks/43': scheduled,
      'POST /api/tasks/43/run-now': { ...scheduled, state: 'queued' },
    });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/43', path: '/tasks/:id' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Run now' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/43/run-now')).toBe(true));
    expect(screen.getByRole('button', { name: 'Cancel task' })).toBeInTheDocument();
  });

  it('deletes a scheduled task after confirming, then goes back to the task list', async () => {
    const scheduled = makeDetail({ id: 44, state: 'scheduled', run_at: '2030-01-01T00:00:00Z' });
    const { calls } = mockFetch({
      'GET /api/whoami': ADMIN,
      'GET /api/tasks/44': scheduled,
      'DELETE /api/tasks/44': scheduled,
    });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/44', path: '/tasks/:id', extraRoutes: <Route path="/tasks" element={<p>task list</p>} /> });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Delete' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete task #44?' });
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false); // nothing before confirming
    await user.click(within(dialog).getByRole('button', { name: 'Delete task' }));
    expect(await screen.findByText('task list')).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/tasks$/);
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.url.pathname)).toEqual(['/api/tasks/44']);
  });

  it('offers Delete only for a scheduled task', async () => {
    const retrying = makeDetail({ id: 45, state: 'retrying', run_at: '2030-01-01T00:00:00Z' });
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/tasks/45': retrying });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/45', path: '/tasks/:id' });
    expect(await screen.findByRole('button', { name: 'Run now' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Delete' })).toBeNull();
  });

  it('shows a reader no buttons that would change the task', async () => {
    mockFetch({ 'GET /api/whoami': READER, 'GET /api/tasks/42': detail });
    renderWithApp(<TaskDetailPage />, { route: '/tasks/42', path: '/tasks/:id', session: READER });
    await screen.findAllByTestId('attempt');
    expect(screen.queryByRole('button', { name: 'Requeue task' })).toBeNull();
  });
});
