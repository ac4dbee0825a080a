import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route } from 'react-router';
import { describe, expect, it } from 'vitest';
import { SESSION_STORAGE_KEY } from '../auth/AuthProvider';
import { jsonError, mockFetch, renderWithApp, TENANT } from '../test/render';
import { LoginPage } from './LoginPage';

describe('LoginPage', () => {
  it('exchanges the key for a cookie session and remembers only who is signed in', async () => {
    let signedIn = false;
    const { calls } = mockFetch({
      'GET /api/whoami': () => (signedIn ? TENANT : jsonError(401, 'unauthorized', 'no session')),
      'POST /api/session': () => {
        signedIn = true;
        return TENANT;
      },
    });
    renderWithApp(<LoginPage />, {
      route: '/login',
      path: '/login',
      session: null,
      extraRoutes: <Route path="/" element={<div>home</div>} />,
    });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText(/API key/i), 'sk_acme_secret');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/$/));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ key: 'sk_acme_secret' });
    const stored = sessionStorage.getItem(SESSION_STORAGE_KEY) ?? '';
    expect(JSON.parse(stored)).toEqual(TENANT);
    expect(stored).not.toContain('secret');
    expect(localStorage.length).toBe(0);
  });

  it('says so when the key is refused', async () => {
    mockFetch({
      'GET /api/whoami': () => jsonError(401, 'unauthorized', 'no session'),
      'POST /api/session': () => jsonError(401, 'unauthorized', 'unknown key'),
    });
    renderWithApp(<LoginPage />, { route: '/login', path: '/login', session: null });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText(/API key/i), 'sk_wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('That key was not accepted.');
    expect(sessionStorage.getItem(SESSION_STORAGE_KEY)).toBeNull();
  });
});
