import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { searchProblem, parseFilters, filtersToSearch, toBulkFilter, describeFilter, EMPTY_FILTERS } from '../lib/taskFilters';
import { makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, renderWithApp } from '../test/render';
import { DeadLettersPage } from '../pages/DeadLettersPage';
import { TasksPage } from '../pages/TasksPage';

function routes() {
  return {
    'GET /api/whoami': ADMIN,
    'GET /api/tasks': (url: URL) =>
      url.searchParams.get('q') ? { items: [makeTask({ id: 7, payload: { customer: 'Marmot' } })], next_cursor: null } : { items: [makeTask({ id: 1 })], next_cursor: null },
    'GET /api/tasks/count': (url: URL) => ({ total: url.searchParams.get('q') ? 1 : 40, exact: true }),
    'GET /api/analytics/types': { items: [] },
    'GET /api/tenants': { items: [{ name: 'acme' }] },
  };
}

describe('search in payload and last error', () => {
  it('says why a search cannot run, as the server would', () => {
    expect(searchProblem('')).toBeNull();
    expect(searchProblem('invoice 4471')).toBeNull();
    expect(searchProblem('a b')).toMatch(/3 or more/);
    expect(searchProblem('-- !!')).toMatch(/3 or more/);
    expect(searchProblem('x'.repeat(201))).toMatch(/200/);
    expect(searchProblem('one two three four five six seven eight nine')).toMatch(/8 words/);
  });

  it('keeps q in the URL, the list query and the bulk filter, and drops one that cannot run', () => {
    const filters = parseFilters(new URLSearchParams('state=dead&q=marmot+freight'));
    expect(filters.q).toBe('marmot freight');
    expect(filtersToSearch(filters).toString()).toBe('state=dead&q=marmot+freight');
    expect(toBulkFilter(filters, new Date())).toEqual({ state: ['dead'], q: 'marmot freight' });
    expect(describeFilter({ q: 'marmot' })).toBe('containing “marmot”');
    expect(parseFilters(new URLSearchParams('q=ab')).q).toBe('');
    expect(EMPTY_FILTERS.q).toBe('');
  });

  it('searches once typing pauses, writes q to the URL and counts what it finds', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks?state=queued' });
    await screen.findByRole('link', { name: '#1' });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Search payload and errors'), 'marmot');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/tasks?state=queued&q=marmot'));
    expect(await screen.findByRole('link', { name: '#7' })).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('pager-status')).toHaveTextContent('1 matching'));
    const searched = calls.filter((c) => c.url.searchParams.has('q'));
    // Debounced: one list and one count for the whole word, not one per keystroke.
    expect(searched.map((c) => c.url.searchParams.get('q'))).not.toContain('marm');
    expect(searched.some((c) => c.url.pathname === '/api/tasks/count')).toBe(true);
    expect(searched.every((c) => c.url.searchParams.getAll('state').includes('queued'))).toBe(true);
  });

  it('does not send a search that has no word long enough, and says why', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<TasksPage />, { route: '/tasks' });
    await screen.findByRole('link', { name: '#1' });
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      await userEvent.setup({ advanceTimers: vi.advanceTimersByTime }).type(screen.getByLabelText('Search payload and errors'), 'ab');
      expect(await screen.findByText(/3 or more letters/)).toBeInTheDocument();
      // Well past the debounce: nothing was sent, and the URL has no q.
      await act(() => vi.advanceTimersByTimeAsync(2000));
    } finally {
      vi.useRealTimers();
    }
    expect(calls.some((c) => c.url.searchParams.has('q'))).toBe(false);
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/tasks$/);
  });

  it('searches dead letters too, from a deep link', async () => {
    const { calls } = mockFetch(routes());
    renderWithApp(<DeadLettersPage />, { route: '/dead-letters?q=marmot' });
    expect(await screen.findByRole('link', { name: '#7' })).toBeInTheDocument();
    const list = calls.find((c) => c.url.pathname === '/api/tasks');
    expect(list?.url.searchParams.get('q')).toBe('marmot');
    expect(list?.url.searchParams.getAll('state')).toEqual(['dead']);
    expect(screen.getByLabelText('Search payload and errors')).toHaveValue('marmot');
  });
});
