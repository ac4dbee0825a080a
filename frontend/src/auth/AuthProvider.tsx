/**
 * Session state. The API key goes to POST /api/session once and then lives only in the
 * server's HttpOnly cookie; the tab remembers just "who am I" in sessionStorage.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useApi } from '../api/ApiContext';
import type { Whoami } from '../api/types';

export const SESSION_STORAGE_KEY = 'skiplock.session';

export type AuthState =
  | { status: 'checking' }
  | { status: 'anonymous' }
  | { status: 'authenticated'; session: Whoami };

interface AuthContextValue {
  state: AuthState;
  login: (key: string) => Promise<Whoami>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthContextValue | null>(null);

function readStoredSession(): Whoami | null {
  try {
    const raw = sessionStorage.getItem(SESSION_STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Whoami;
    return parsed && (parsed.role === 'admin' || parsed.role === 'reader' || parsed.role === 'tenant') ? parsed : null;
  } catch {
    return null;
  }
}

function storeSession(session: Whoami | null): void {
  try {
    if (session) sessionStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(SESSION_STORAGE_KEY);
  } catch {
    // Storage can be disabled; the cookie still authenticates this tab until reload.
  }
}

function sameIdentity(a: Whoami, b: Whoami): boolean {
  return a.role === b.role && a.tenant === b.tenant && a.key_prefix === b.key_prefix;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [state, setState] = useState<AuthState>(() => {
    const stored = readStoredSession();
    return stored ? { status: 'authenticated', session: stored } : { status: 'checking' };
  });

  const dropSession = useCallback(() => {
    storeSession(null);
    queryClient.clear();
    setState({ status: 'anonymous' });
  }, [queryClient]);

  useEffect(() => {
    api.onUnauthorized = dropSession;
    return () => {
      api.onUnauthorized = undefined;
    };
  }, [api, dropSession]);

  // Confirm (or discover, e.g. in a new tab) the cookie session once at start.
  useEffect(() => {
    let cancelled = false;
    api
      .get<Whoami>('/whoami')
      .then((who) => {
        if (cancelled) return;
        storeSession(who);
        setState((s) => (s.status === 'authenticated' && sameIdentity(s.session, who) ? s : { status: 'authenticated', session: who }));
      })
      .catch(() => {
        if (!cancelled) setState((s) => (s.status === 'checking' ? { status: 'anonymous' } : s));
      });
    return () => {
      cancelled = true;
    };
  }, [api]);

  const login = useCallback(
    async (key: string) => {
      await api.post('/session', { key });
      const who = await api.get<Whoami>('/whoami');
      storeSession(who);
      queryClient.clear();
      setState({ status: 'authenticated', session: who });
      return who;
    },
    [api, queryClient],
  );

  const logout = useCallback(async () => {
    try {
      await api.delete('/session');
    } catch {
      // Already gone server-side; clear the tab anyway.
    }
    dropSession();
  }, [api, dropSession]);

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth() outside <AuthProvider>');
  return value;
}

/** The signed-in identity; only call below <RequireAuth>. */
export function useSession(): Whoami {
  const { state } = useAuth();
  if (state.status !== 'authenticated') throw new Error('useSession() without a session');
  return state.session;
}

export function useIsAdmin(): boolean {
  const { state } = useAuth();
  return state.status === 'authenticated' && state.session.role === 'admin';
}

/** Admins and readers see every tenant and the admin pages (readers without their actions). */
export function useSeesAll(): boolean {
  const { state } = useAuth();
  return state.status === 'authenticated' && (state.session.role === 'admin' || state.session.role === 'reader');
}

/**
 * May this session change things (cancel, requeue, pause, create, revoke)? A reader key may
 * not: the server refuses with 403, so the dashboard does not offer the buttons at all.
 */
export function useCanAct(): boolean {
  const { state } = useAuth();
  return state.status === 'authenticated' && state.session.role !== 'reader';
}
