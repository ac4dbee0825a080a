import { useState } from 'react';
import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { QueryClientProvider, type QueryClient } from '@tanstack/react-query';
import { BrowserRouter } from 'react-router';
import { ApiProvider } from './api/ApiContext';
import type { ApiClient } from './api/client';
import { AuthProvider, useAuth } from './auth/AuthProvider';
import { AppRoutes } from './AppRoutes';
import { LiveProvider } from './live/LiveProvider';
import type { EventSourceFactory } from './live/eventStream';
import { FeaturesProvider } from './features';
import { createQueryClient } from './queryClient';
import { cssVariablesResolver, theme } from './theme';

export interface AppProps {
  api: ApiClient;
  basePath: string;
  /** The server offers demo data (runtime config); default off. */
  demo?: boolean;
  queryClient?: QueryClient;
  eventSourceFactory?: EventSourceFactory;
}

function LiveForSession({ children, factory }: { children: React.ReactNode; factory?: EventSourceFactory }) {
  const { state } = useAuth();
  return (
    <LiveProvider enabled={state.status === 'authenticated'} eventSourceFactory={factory}>
      {children}
    </LiveProvider>
  );
}

export function App({ api, basePath, demo = false, queryClient, eventSourceFactory }: AppProps) {
  const [client] = useState(() => queryClient ?? createQueryClient());
  return (
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver} defaultColorScheme="auto">
      <Notifications position="top-right" />
      <QueryClientProvider client={client}>
        <ApiProvider client={api}>
          <BrowserRouter basename={basePath || undefined}>
            <AuthProvider>
              <FeaturesProvider value={{ demo }}>
                <LiveForSession factory={eventSourceFactory}>
                  <AppRoutes />
                </LiveForSession>
              </FeaturesProvider>
            </AuthProvider>
          </BrowserRouter>
        </ApiProvider>
      </QueryClientProvider>
    </MantineProvider>
  );
}
