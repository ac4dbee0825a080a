import { render, screen } from '@testing-library/react';
import { QueryClient } from '@tanstack/react-query';
import { beforeEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { ApiClient } from './api/client';
import { FakeEventSource } from './test/fakeEventSource';
import { jsonError, mockFetch, TENANT } from './test/render';

function renderApp(path: string) {
  window.history.pushState({}, '', path);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <App api={new ApiClient({ apiBase: '/jobs/api' })} basePath="/jobs" queryClient={queryClient} eventSourceFactory={FakeEventSource.factory} />,
  );
}

describe('App', () => {
  beforeEach(() => FakeEventSource.reset());

  it('sends a visitor without a session to the login page under the base path', async () => {
    mockFetch({ 'GET /jobs/api/whoami': () => jsonError(401, 'unauthorized', 'no') });
    renderApp('/jobs/tasks');
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeInTheDocument();
    expect(window.location.pathname).toBe('/jobs/login');
    expect(FakeEventSource.instances).toHaveLength(0);
  });

  it('keeps a tenant key out of the admin pages and opens one live stream', async () => {
    mockFetch({ 'GET /jobs/api/whoami': TENANT, 'GET /jobs/api/tenants': () => jsonError(403, 'forbidden', 'admins only') });
    renderApp('/jobs/tenants');
    expect(await screen.findByRole('heading', { level: 1, name: 'Admins only' })).toBeInTheDocument();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.latest().url).toBe('/jobs/api/sse/events');
  });
});
