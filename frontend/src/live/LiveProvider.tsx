/** Owns the tab's single EventSource and exposes its status to the header and to queries. */
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useApi } from '../api/ApiContext';
import { applyTaskEvent, createRefresher, invalidateEverything } from './cacheSync';
import { EventStreamClient, type EventSourceFactory, type LiveStatus } from './eventStream';

const LiveContext = createContext<LiveStatus>('connecting');
const ReconnectContext = createContext<() => void>(() => undefined);

export interface LiveProviderProps {
  children: ReactNode;
  enabled: boolean;
  eventSourceFactory?: EventSourceFactory;
}

export function LiveProvider({ children, enabled, eventSourceFactory }: LiveProviderProps) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const clientRef = useRef<EventStreamClient | null>(null);
  const reconnectNow = useCallback(() => clientRef.current?.reconnectNow(), []);

  useEffect(() => {
    if (!enabled) return undefined;
    // Every refetch the stream causes, and every periodic refresh while it is live, goes
    // through one refresher: at most one API call per second for this tab, at any event rate.
    const throttle = createRefresher(queryClient, 1000);
    const client = new EventStreamClient({
      url: api.url('/sse/events'),
      eventSourceFactory,
      onStatus: setStatus,
      onTask: (event) => applyTaskEvent(queryClient, throttle, event),
      onReset: () => invalidateEverything(queryClient),
      onReopen: () => invalidateEverything(queryClient),
      // The browser cannot tell us why it gave up; a 401 here ends the session.
      onClosed: () => {
        api.get('/whoami').catch(() => undefined);
      },
    });
    clientRef.current = client;
    client.start();
    // The network came back: try the stream now rather than after the backoff.
    window.addEventListener('online', reconnectNow);
    return () => {
      window.removeEventListener('online', reconnectNow);
      clientRef.current = null;
      client.stop();
      throttle.cancel();
      setStatus('connecting');
    };
  }, [api, queryClient, enabled, eventSourceFactory, reconnectNow]);

  return (
    <ReconnectContext.Provider value={reconnectNow}>
      <LiveContext.Provider value={status}>{children}</LiveContext.Provider>
    </ReconnectContext.Provider>
  );
}

/** Ends the wait for the next reconnect attempt and tries the stream at once. */
export function useReconnectNow(): () => void {
  return useContext(ReconnectContext);
}

export function useLiveStatus(): LiveStatus {
  return useContext(LiveContext);
}

export const POLL_INTERVAL_MS = 5000;

/**
 * refetchInterval for a query: poll every `fallbackMs` while the stream is down; while it
 * is up, false: events (and `liveEvery`, through the tab's refresher) keep it current.
 */
export function usePollInterval(fallbackMs = POLL_INTERVAL_MS): number | false {
  const status = useLiveStatus();
  return status === 'reconnecting' || status === 'polling' ? fallbackMs : false;
}

/** Query meta: refresh at least this often while live (for what no event reports). */
export function liveEvery(ms: number): { liveEveryMs: number } {
  return { liveEveryMs: ms };
}
