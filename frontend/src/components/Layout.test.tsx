import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ADMIN, mockFetch, renderWithApp, TENANT } from '../test/render';
import { Layout } from './Layout';

describe('Layout', () => {
  it('shows the admin pages and demo controls to an admin when the server offers demo data', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    renderWithApp(<Layout />, { session: ADMIN, demo: true });
    const nav = screen.getByRole('navigation', { name: 'Main navigation' });
    expect(within(nav).getByRole('link', { name: /Tenants/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Demo data/ })).toBeInTheDocument();
    expect(screen.getByTestId('identity')).toHaveTextContent('admin');
  });

  it('hides the demo controls unless the server offers demo data', () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    renderWithApp(<Layout />, { session: ADMIN });
    expect(screen.queryByRole('button', { name: /Demo data/ })).toBeNull();
  });

  it('asks before clearing demo tasks, with the count the server reports', async () => {
    const { calls } = mockFetch({
      'GET /api/whoami': ADMIN,
      'POST /api/demo/clear': (_url: URL, init: RequestInit) =>
        JSON.parse(String(init.body)).dry_run ? { deleted: 9120, dry_run: true } : { deleted: 9120, dry_run: false },
    });
    renderWithApp(<Layout />, { session: ADMIN, demo: true });
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: /Demo data/ }));
    await user.click(await screen.findByRole('menuitem', { name: /Clear demo tasks/ }));
    const dialog = await screen.findByRole('dialog', { name: 'Clear demo tasks' });
    await waitFor(() => expect(within(dialog).getByTestId('demo-clear-preview')).toHaveTextContent('9,120 tasks of the demo tenants'));
    const deletes = () => calls.filter((c) => c.url.pathname === '/api/demo/clear' && !(c.body as { dry_run?: boolean }).dry_run);
    expect(deletes()).toHaveLength(0);
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Keep as is' }));
    await user.click(within(dialog).getByRole('button', { name: 'Delete 9,120 tasks' }));
    await waitFor(() => expect(deletes()).toHaveLength(1));
  });

  it('hides admin-only pages and demo controls from a tenant', async () => {
    mockFetch({ 'GET /api/whoami': TENANT });
    renderWithApp(<Layout />, { session: TENANT, demo: true });
    const nav = screen.getByRole('navigation', { name: 'Main navigation' });
    expect(within(nav).queryByRole('link', { name: /Tenants/ })).toBeNull();
    expect(within(nav).getByRole('link', { name: /Dead letters/ })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Demo data/ })).toBeNull();
    expect(screen.getByTestId('identity')).toHaveTextContent('tenant acme');
  });

  it('offers a dark mode toggle and a connection badge', () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    renderWithApp(<Layout />);
    expect(screen.getByRole('button', { name: /Switch to (dark|light) mode/ })).toBeInTheDocument();
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Connecting');
  });
});
