import { act, render, screen, waitFor } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiProvider } from '../api/ApiContext';
import { ApiClient } from '../api/client';
import { ConnectionBadge } from '../components/ConnectionBadge';
import { FakeEventSource } from '../test/fakeEventSource';
import { mockFetch } from '../test/render';
import { LiveProvider, usePollInterval } from './LiveProvider';

function PollProbe() {
  const interval = usePollInterval(5000);
  const query = useQuery({ queryKey: ['probe'], queryFn: () => fetch('/api/probe').then((r) => r.json()), refetchInterval: interval });
  return (
    <div>
      <span data-testid="interval">{String(interval)}</span>
      <span data-testid="probe">{query.data ? 'loaded' : 'loading'}</span>
    </div>
  );
}

function renderLive(queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })) {
  const api = new ApiClient({ apiBase: '/prefix/api' });
  render(
    <MantineProvider>
      <QueryClientProvider client={queryClient}>
        <ApiProvider client={api}>
          <LiveProvider enabled eventSourceFactory={FakeEventSource.factory}>
            <ConnectionBadge />
            <PollProbe />
          </LiveProvider>
        </ApiProvider>
      </QueryClientProvider>
    </MantineProvider>,
  );
  return queryClient;
}

describe('LiveProvider', () => {
  beforeEach(() => {
    FakeEventSource.reset();
    vi.useFakeTimers({ shouldAdvanceTime: true });
  });
  afterEach(() => vi.useRealTimers());

  it('opens one stream under the api base and shows Live', async () => {
    mockFetch({ 'GET /api/probe': { ok: true } });
    renderLive();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.latest().url).toBe('/prefix/api/sse/events');
    act(() => FakeEventSource.latest().open());
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
    expect(screen.getByTestId('interval')).toHaveTextContent('false');
  });

  it('offers Reconnect now while the stream is down, which opens a stream at once', async () => {
    mockFetch({ 'GET /api/probe': { ok: true }, 'GET /prefix/api/whoami': { role: 'admin' } });
    renderLive();
    act(() => FakeEventSource.latest().open());
    expect(screen.queryByTestId('reconnect-now')).toBeNull();
    act(() => FakeEventSource.latest().failClosed());
    expect(FakeEventSource.instances).toHaveLength(1);
    act(() => screen.getByTestId('reconnect-now').click());
    expect(FakeEventSource.instances).toHaveLength(2);
    act(() => FakeEventSource.latest().open());
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
    expect(screen.queryByTestId('reconnect-now')).toBeNull();
  });

  it('falls back to polling while the stream is down and stops once it is back', async () => {
    const { fetchMock } = mockFetch({ 'GET /api/probe': { ok: true }, 'GET /prefix/api/whoami': { role: 'admin' } });
    renderLive();
    act(() => FakeEventSource.latest().open());
    await waitFor(() => expect(screen.getByTestId('probe')).toHaveTextContent('loaded'));
    const probeCalls = () => fetchMock.mock.calls.filter(([u]) => String(u) === '/api/probe').length;
    expect(probeCalls()).toBe(1);

    act(() => FakeEventSource.latest().failClosed());
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Reconnecting');
    expect(screen.getByTestId('interval')).toHaveTextContent('5000');
    // The closed stream makes the provider check the session once.
    expect(fetchMock.mock.calls.some(([u]) => String(u) === '/prefix/api/whoami')).toBe(true);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(probeCalls()).toBeGreaterThanOrEqual(2);

    const reconnect = FakeEventSource.latest();
    act(() => reconnect.open());
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
    expect(screen.getByTestId('interval')).toHaveTextContent('false');
  });

  it('invalidates every query on a reset event', async () => {
    mockFetch({ 'GET /api/probe': { ok: true } });
    const qc = renderLive();
    const spy = vi.spyOn(qc, 'invalidateQueries');
    act(() => FakeEventSource.latest().open());
    act(() => FakeEventSource.latest().emit('reset', {}, '5'));
    expect(spy).toHaveBeenCalledWith();
  });

  it('shows Paused while the tab is hidden', () => {
    mockFetch({ 'GET /api/probe': { ok: true } });
    renderLive();
    act(() => FakeEventSource.latest().open());
    const hidden = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
    act(() => {
      document.dispatchEvent(new Event('visibilitychange'));
    });
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Paused');
    expect(FakeEventSource.latest().closed).toBe(true);
    hidden.mockReturnValue('visible');
    act(() => {
      document.dispatchEvent(new Event('visibilitychange'));
    });
    expect(FakeEventSource.instances).toHaveLength(2);
  });
});
