/** Renders a tree inside the providers the app uses, with a mocked fetch behind the API. */
import type { ReactElement, ReactNode } from 'react';
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { vi } from 'vitest';
import { ApiProvider } from '../api/ApiContext';
import { ApiClient } from '../api/client';
import type { Whoami } from '../api/types';
import { AuthProvider, SESSION_STORAGE_KEY } from '../auth/AuthProvider';
import { FeaturesProvider } from '../features';
import { cssVariablesResolver, theme } from '../theme';

export const ADMIN: Whoami = { role: 'admin', tenant: null, key_prefix: 'sk_admin' };
export const READER: Whoami = { role: 'reader', tenant: null, key_prefix: 'sk_reader' };
export const TENANT: Whoami = { role: 'tenant', tenant: 'acme', key_prefix: 'sk_acme' };

export type Handler = (url: URL, init: RequestInit) => unknown;

export interface MockedCall {
  method: string;
  url: URL;
  body: unknown;
}

/**
 * Replaces global fetch. `routes` maps "METHOD /api/path" to a handler's JSON result
 * (or a Response for errors); unknown routes answer 404.
 */
export function mockFetch(routes: Record<string, Handler | unknown>) {
  const calls: MockedCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ method, url, body });
    const key = `${method} ${url.pathname}`;
    if (!(key in routes)) {
      return new Response(JSON.stringify({ error: 'not_found', message: `no mock for ${key}` }), { status: 404 });
    }
    const route = routes[key];
    const result = typeof route === 'function' ? (route as Handler)(url, init) : route;
    if (result instanceof Response) return result;
    return new Response(JSON.stringify(result ?? {}), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
  vi.stubGlobal('fetch', fetchMock);
  return { fetchMock, calls };
}

export function jsonError(status: number, error: string, message: string): Response {
  return new Response(JSON.stringify({ error, message }), { status, headers: { 'Content-Type': 'application/json' } });
}

export function LocationProbe() {
  const location = useLocation();
  return <div data-testid="location">{location.pathname + location.search}</div>;
}

export interface RenderOptions {
  route?: string;
  path?: string;
  session?: Whoami | null;
  extraRoutes?: ReactNode;
  /** The server offers demo data (SKIPLOCK_DEMO). */
  demo?: boolean;
}

export function renderWithApp(ui: ReactElement, { route = '/', path = '*', session = ADMIN, extraRoutes, demo = false }: RenderOptions = {}) {
  if (session) sessionStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(session));
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity } } });
  const api = new ApiClient({ apiBase: '/api' });
  const result = render(
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={queryClient}>
        <ApiProvider client={api}>
          <MemoryRouter initialEntries={[route]}>
            <AuthProvider>
              <FeaturesProvider value={{ demo }}>
                <Routes>
                  <Route path={path} element={ui} />
                  {extraRoutes}
                </Routes>
                <LocationProbe />
              </FeaturesProvider>
            </AuthProvider>
          </MemoryRouter>
        </ApiProvider>
      </QueryClientProvider>
    </MantineProvider>,
  );
  return { ...result, queryClient, api };
}
