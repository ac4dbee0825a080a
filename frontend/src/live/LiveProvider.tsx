/** Owns the tab's single EventSource and exposes its status to the header and to queries. */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useApi } from '../api/ApiContext';
import { applyTaskEvent, createThrottledInvalidator, invalidateEverything } from './cacheSync';
import { EventStreamClient, type EventSourceFactory, type LiveStatus } from './eventStream';

const LiveContext = createContext<LiveStatus>('connecting');

export interface LiveProviderProps {
  children: ReactNode;
  enabled: boolean;
  eventSourceFactory?: EventSourceFactory;
}

export function LiveProvider({ children, enabled, eventSourceFactory }: LiveProviderProps) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('connecting');

  useEffect(() => {
    if (!enabled) return undefined;
    const throttle = createThrottledInvalidator(queryClient, 1000);
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
    client.start();
    return () => {
      client.stop();
      throttle.cancel();
      setStatus('connecting');
    };
  }, [api, queryClient, enabled, eventSourceFactory]);

  return <LiveContext.Provider value={status}>{children}</LiveContext.Provider>;
}

export function useLiveStatus(): LiveStatus {
  return useContext(LiveContext);
}

export const POLL_INTERVAL_MS = 5000;

/**
 * refetchInterval for a query: poll every `fallbackMs` while the stream is down, otherwise
 * `liveMs` (false: rely on events alone).
 */
export function usePollInterval(fallbackMs = POLL_INTERVAL_MS, liveMs: number | false = false): number | false {
  const status = useLiveStatus();
  return status === 'reconnecting' || status === 'polling' ? fallbackMs : liveMs;
}
