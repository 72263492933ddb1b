// Who is signed in, in memory only: the token itself is sent once (sign-in) and never kept; the
// server's HttpOnly cookie is the session. Components follow this store with useSession().
import { useEffect, useState } from 'preact/hooks';
import { api, onSessionEnded, setCsrf } from './api.js';
import type { SessionView } from './types.js';

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out'; message?: string }
  | { status: 'signed-in'; session: SessionView };

let state: SessionState = { status: 'checking' };
const listeners = new Set<() => void>();

function set(next: SessionState): void {
  state = next;
  setCsrf(next.status === 'signed-in' ? next.session.csrf : null);
  for (const l of listeners) l();
}

export function useSession(): SessionState {
  const [, redraw] = useState(0);
  useEffect(() => {
    const l = () => redraw((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}

/** On load: is there a session already (the cookie survives a reload)? */
export async function checkSession(): Promise<void> {
  try {
    set({ status: 'signed-in', session: await api.probe<SessionView>('/v1/session') });
  } catch (err) {
    set({ status: 'signed-out', message: (err as { status?: number }).status === 401 ? undefined : (err as Error).message });
  }
}

/** Exchange the operator token for the session cookie; throws the server's refusal. */
export async function signIn(token: string): Promise<void> {
  set({ status: 'signed-in', session: await api.signIn<SessionView>('/v1/session', { token }) });
}

export async function signOut(): Promise<void> {
  try {
    await api.del('/v1/session');
  } finally {
    set({ status: 'signed-out', message: 'You are signed out.' });
  }
}

// Any call answered 401: the cookie expired or its token was revoked.
onSessionEnded(() => {
  if (state.status === 'signed-in') set({ status: 'signed-out', message: 'Your session has expired. Sign in again.' });
});
