import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, renderWithApp, TENANT } from '../test/render';
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
    await user.click(screen.getByRole('button', { name: 'Previous' }));
    expect(await screen.findByRole('link', { name: '#3' })).toBeInTheDocument();
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
    await user.click(within(dialog).getByRole('button', { name: 'Retry all matching' }));
    await waitFor(() => expect(calls.some((c) => c.url.pathname === '/api/tasks/bulk/retry')).toBe(true));
    expect(calls.find((c) => c.url.pathname === '/api/tasks/bulk/retry')?.body).toEqual({
      filter: { state: ['dead'], type: 'resize_image' },
    });
  });

  it('offers no tenant filter or tenant column to a tenant key', async () => {
    mockFetch(routes({ 'GET /api/whoami': TENANT }));
    renderWithApp(<TasksPage />, { route: '/tasks', session: TENANT });
    await screen.findByRole('link', { name: '#3' });
    expect(screen.queryByLabelText('Tenant')).toBeNull();
    expect(screen.queryByRole('columnheader', { name: 'Tenant' })).toBeNull();
  });
});
