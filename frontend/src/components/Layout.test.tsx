import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ADMIN, mockFetch, renderWithApp, TENANT } from '../test/render';
import { Layout } from './Layout';

describe('Layout', () => {
  it('shows the admin pages and demo controls to an admin', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    renderWithApp(<Layout />, { session: ADMIN });
    const nav = screen.getByRole('navigation', { name: 'Main navigation' });
    expect(within(nav).getByRole('link', { name: /Tenants/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Demo data/ })).toBeInTheDocument();
    expect(screen.getByTestId('identity')).toHaveTextContent('admin');
  });

  it('hides admin-only pages and demo controls from a tenant', async () => {
    mockFetch({ 'GET /api/whoami': TENANT });
    renderWithApp(<Layout />, { session: TENANT });
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
