import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../test/fixtures';
import { ADMIN, jsonError, mockFetch, renderWithApp, TENANT } from '../test/render';
import { TasksPage } from './TasksPage';

const page1 = { items: [makeTask({ id: 3, state: 'dead', last_error: 'boom' }), makeTask({ id: 2 }), makeTask({ id: 1, state: 'running' })], next_cursor: 'c2' };
const page2 = { items: [makeTask({ id: 0, state: 'succeeded' })], next_cursor: null };

function routes(extra: Record<string, unknown> = {}) {
  return {
    'GET /api/whoami': ADMIN,
    'GET /api/tasks': (url: URL) => (url.searchParams.get('cursor') === 'c2' ? page2 : page1),
    'GET /api/analytics/types': { items: [{ type: 'resize_image', total: 3 }] },
    'GET /api/tenants': { items: [{ name: 'acme' }, { name: 'globex' }] },
    ...extra,
  };
}

describe('TasksPage', () => {
  it('lists tasks with their state and links to the detail page', async () => {
    mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks' });
    const row = (await screen.findByRole('link', { name: '#3' })).closest('tr');
    expect(row).not.toBeNull();
    expect(within(row as HTMLElement).getByText('dead')).toBeInTheDocument();
    expect(within(row as HTMLElement).getByText('boom')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: '#3' })).toHaveAttribute('href', '/tasks/3');
  });

  it('reads filters from the URL and sends them to the API', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks?state=dead&state=retrying&type=email&tenant=acme' });
    await screen.findByRole('link', { name: '#3' });
    const list = calls.find((c) => c.url.pathname === '/api/tasks');
    expect(list?.url.searchParams.getAll('state')).toEqual(['dead', 'retrying']);
    expect(list?.url.searchParams.get('type')).toBe('email');
    expect(list?.url.searchParams.get('tenant')).toBe('acme');
    expect(screen.getByRole('checkbox', { name: 'dead' })).toBeChecked();
  });

  it('writes a state filter and an id search into the URL', async () => {
    mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#3' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('checkbox', { name: 'queued' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/tasks?state=queued'));
    await user.type(screen.getByLabelText('Task id'), '42{Enter}');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/tasks?state=queued&id=42'));
  });

  it('pages with the cursor and back', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#3' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Next' }));
    expect(await screen.findByRole('link', { name: '#0' })).toBeInTheDocument();
    expect(calls.some((c) => c.url.searchParams.get('cursor') === 'c2')).toBe(true);
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    expect(screen.getByTestId('location')).toHaveTextContent('/tasks?page=2&cursor=c2');
    await user.click(screen.getByRole('button', { name: 'Previous' }));
    expect(await screen.findByRole('link', { name: '#3' })).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/tasks$/);
  });

  it('opens the page a deep link names, and shows the total matching', async () => {
    mockFetch(routes({ 'GET /api/tasks/count': { total: 12345, exact: false } }));
    renderWithApp(<TasksPage />, { route: '/tasks?state=dead&page=7&cursor=c2' });
    expect(await screen.findByRole('link', { name: '#0' })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('Page 7 · 1 shown · 12,345+ matching'));
    expect(screen.getByRole('button', { name: 'First' })).toBeEnabled();
  });

  it('counts every match on request when the total says "at least", for the filters shown', async () => {
    let exactCalls = 0;
    const { calls } = mockFetch(
      routes({
        'GET /api/tasks/count': (url: URL) => {
          if (url.searchParams.get('exact') !== 'true') return { total: 10000, exact: false };
          exactCalls += 1;
          return { total: 1234567 + exactCalls, exact: true };
        },
      }),
    );
    renderWithApp(<TasksPage />, { route: '/tasks?q=marmot' });
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('10,000+ matching'));
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Count all' }));
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent(/1,234,568 matching \(counted at \d\d:\d\d:\d\d\)/));
    const exact = calls.filter((c) => c.url.pathname === '/api/tasks/count' && c.url.searchParams.get('exact') === 'true');
    expect(exact.map((c) => c.url.searchParams.get('q'))).toEqual(['marmot']);
    await user.click(screen.getByRole('button', { name: 'Count again' }));
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('1,234,569 matching'));
    // Other filters: the count asked for the old ones is not shown for them.
    await user.click(screen.getByRole('checkbox', { name: 'queued' }));
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('10,000+ matching'));
    expect(screen.getByRole('button', { name: 'Count all' })).toBeInTheDocument();
  });

  it('says why counting every match failed, and keeps the "at least" total', async () => {
    mockFetch(
      routes({
        'GET /api/tasks/count': (url: URL) =>
          url.searchParams.get('exact') === 'true'
            ? jsonError(503, 'unavailable', 'the query ran past its time limit')
            : { total: 10000, exact: false },
      }),
    );
    renderWithApp(<TasksPage />, { route: '/tasks' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Count all' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Counting failed: the query ran past its time limit');
    expect(screen.getByTestId('pager-status')).toHaveTextContent('10,000+ matching');
  });

  it('offers no "Count all" when the total is exact', async () => {
    mockFetch(routes({ 'GET /api/tasks/count': { total: 3, exact: true } }));
    renderWithApp(<TasksPage />, { route: '/tasks' });
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('3 matching'));
    expect(screen.queryByRole('button', { name: 'Count all' })).toBeNull();
  });

  it('sends the order named in the URL and shows it', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks?state=dead&sort=-finished' });
    await screen.findByRole('link', { name: '#3' });
    expect(calls.find((c) => c.url.pathname === '/api/tasks')?.url.searchParams.get('sort')).toBe('-finished');
    expect(screen.getByDisplayValue('Finished, latest first')).toBeInTheDocument();
  });

  it('says when a filter matches nothing because no such type is known', async () => {
    mockFetch(routes({
      'GET /api/tasks': { items: [], next_cursor: null },
      'GET /api/task-types': { types: [{ name: 'send_email', instances: [], first_seen: '', last_seen: '', max_attempts: null, timeout_s: null, cost: null }] },
    }));
    renderWithApp(<TasksPage />, { route: '/tasks?type=send_emial' });
    expect(await screen.findByText(/No task type “send_emial” is known here \(known: resize_image, send_email\)/)).toBeInTheDocument();
  });

  it('runs a scheduled row now from the list, and offers that on scheduled and retrying rows only', async () => {
    const later = makeTask({ id: 9, state: 'scheduled', run_at: '2030-01-01T00:00:00Z' });
    const { calls } = mockFetch(
      routes({
        'GET /api/tasks': { items: [later, makeTask({ id: 8, state: 'retrying' }), ...page1.items], next_cursor: null },
        'POST /api/tasks/9/run-now': { ...later, state: 'queued' },
      }),
    );
    renderWithApp(<TasksPage />, { route: '/tasks' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Run task 9 now' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url.pathname === '/api/tasks/9/run-now')).toBe(true));
    const offered = screen.getAllByRole('button', { name: /^Run task \d+ now$/ }).map((b) => b.getAttribute('aria-label'));
    expect(offered).toEqual(['Run task 9 now', 'Run task 8 now']);
  });

  it('cancels the selected tasks by id', async () => {
    const { calls } = mockFetch(routes({ 'POST /api/tasks/bulk/cancel': { changed: 1, ids: [2] } }));
    renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#2' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('checkbox', { name: 'Select task 2' }));
    await user.click(screen.getByRole('button', { name: 'Cancel selected' }));
    await waitFor(() => expect(calls.some((c) => c.url.pathname === '/api/tasks/bulk/cancel')).toBe(true));
    expect(calls.find((c) => c.url.pathname === '/api/tasks/bulk/cancel')?.body).toEqual({ ids: [2] });
  });

  it('retries everything matching the filter after confirmation', async () => {
    const { calls } = mockFetch(routes({ 'POST /api/tasks/bulk/retry': { changed: 120, ids: [], truncated: false } }));
    renderWithApp(<TasksPage />, { route: '/tasks?state=dead&type=resize_image' });
    await screen.findByRole('link', { name: '#3' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Retry all matching…' }));
    const dialog = await screen.findByRole('dialog');
    expect(dialog).toHaveTextContent('state dead, type resize_image');
    // The exact count comes first, from a dry run that changes nothing.
    expect(await within(dialog).findByTestId('bulk-preview')).toHaveTextContent('120 tasks will be requeued.');
    const bulk = () => calls.filter((c) => c.url.pathname === '/api/tasks/bulk/retry');
    expect(bulk().map((c) => c.body)).toEqual([{ filter: { state: ['dead'], type: 'resize_image' }, dry_run: true }]);
    await user.click(within(dialog).getByRole('button', { name: 'Retry all matching' }));
    await waitFor(() => expect(bulk()).toHaveLength(2));
    expect(bulk()[1]?.body).toEqual({ filter: { state: ['dead'], type: 'resize_image' } });
  });

  it('will not confirm a bulk action that would change nothing', async () => {
    mockFetch(routes({ 'POST /api/tasks/bulk/cancel': { changed: 0, ids: [], truncated: false, dry_run: true } }));
    renderWithApp(<TasksPage />, { route: '/tasks?state=succeeded' });
    await screen.findByRole('link', { name: '#3' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Cancel all matching…' }));
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByTestId('bulk-preview')).toHaveTextContent('No task matching this can be cancelled now.');
    expect(within(dialog).getByRole('button', { name: 'Cancel all matching' })).toBeDisabled();
  });

  it('offers no tenant filter or tenant column to a tenant key', async () => {
    mockFetch(routes({ 'GET /api/whoami': TENANT }));
    renderWithApp(<TasksPage />, { route: '/tasks', session: TENANT });
    await screen.findByRole('link', { name: '#3' });
    expect(screen.queryByLabelText('Tenant')).toBeNull();
    expect(screen.queryByRole('columnheader', { name: 'Tenant' })).toBeNull();
  });

  it('announces new tasks instead of shifting the rows, and shows them on request', async () => {
    let ids = [3, 2, 1];
    const { calls } = mockFetch(routes({
      'GET /api/tasks': (url: URL) => {
        const below = Number(url.searchParams.get('cursor') ?? Infinity);
        return { items: ids.filter((id) => id < below).map((id) => makeTask({ id })), next_cursor: null };
      },
    }));
    const { queryClient } = renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#3' });
    ids = [5, 4, 3, 2, 1]; // two tasks arrive
    await act(() => queryClient.invalidateQueries());
    expect(await screen.findByTestId('new-rows')).toHaveTextContent('2 new — show');
    expect(screen.queryByRole('link', { name: '#5' })).toBeNull();
    expect(screen.getAllByRole('link', { name: /^#\d+$/ })[0]).toHaveTextContent('#3');
    const user = userEvent.setup();
    await user.click(screen.getByTestId('new-rows'));
    expect(await screen.findByRole('link', { name: '#5' })).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByTestId('new-rows')).toBeNull());
    expect(calls.some((c) => c.url.pathname === '/api/tasks' && c.url.searchParams.get('limit') === '100')).toBe(true);
  });

  it('keeps ticked rows by id across pages, and acts on all of them', async () => {
    const { calls } = mockFetch(routes({ 'POST /api/tasks/bulk/cancel': { changed: 2, ids: [2, 0] } }));
    renderWithApp(<TasksPage />, { route: '/tasks' });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('checkbox', { name: 'Select task 2' }));
    await user.click(screen.getByRole('button', { name: 'Next' }));
    await user.click(await screen.findByRole('checkbox', { name: 'Select task 0' }));
    expect(screen.getByTestId('selection-note')).toHaveTextContent('1 of them on other pages');
    await user.click(screen.getByRole('button', { name: 'Previous' }));
    expect(await screen.findByRole('checkbox', { name: 'Select task 2' })).toBeChecked();
    await user.click(screen.getByRole('button', { name: 'Cancel selected' }));
    await waitFor(() => expect(calls.find((c) => c.url.pathname === '/api/tasks/bulk/cancel')?.body).toEqual({ ids: [2, 0] }));
  });

  it('pauses live updates: the list is not refetched until resumed', async () => {
    const { calls } = mockFetch(routes());
    const { queryClient } = renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#3' });
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Pause live updates' }));
    expect(screen.getByTestId('live-paused')).toBeInTheDocument();
    const lists = () => calls.filter((c) => c.url.pathname === '/api/tasks').length;
    const before = lists();
    // What the tab's refresher does for a paused list: nothing (meta.frozen).
    const frozen = queryClient.getQueryCache().findAll({ queryKey: ['tasks', 'list'] }).filter((q) => q.getObserversCount() > 0);
    expect(frozen.length).toBeGreaterThan(0);
    expect(frozen.every((q) => (q.meta as { frozen?: boolean } | undefined)?.frozen)).toBe(true);
    expect(lists()).toBe(before);
    await user.click(screen.getByRole('button', { name: 'Resume live updates' }));
    expect(screen.queryByTestId('live-paused')).toBeNull();
  });
});
