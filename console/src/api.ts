// The one way the console talks to the server: same-origin fetch with the session cookie, the
// CSRF header on every request that changes state, typed answers, and typed errors. A 401 on any
// call but the sign-in itself means the session is gone: the session store (which registers with
// onSessionEnded) is told, and the app goes back to the sign-in page with a message.

/** Why a call failed, as the page shows it. `code` is the server's stable error code (docs/errors.md). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const UNREACHABLE = 'UNREACHABLE';

let csrfToken: string | null = null;
let sessionEnded: () => void = () => {};

/** Who to tell when the server answers 401 to a signed-in call. */
export function onSessionEnded(handler: () => void): void {
  sessionEnded = handler;
}

/** The session's CSRF token (from the sign-in answer), kept in memory only. */
export function setCsrf(token: string | null): void {
  csrfToken = token;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function call<T>(method: Method, path: string, body: unknown, signIn: boolean): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-wf-csrf'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, UNREACHABLE, 'The server cannot be reached. Check that wasmfleet server is running, then try again.');
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // A proxy's HTML error page, say: reported below by status.
  }
  if (res.ok) return json as T;
  const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
  const failure = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `${res.status} ${res.statusText}`);
  if (res.status === 401 && !signIn) sessionEnded();
  throw failure;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path, undefined, false),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body, false),
  del: <T>(path: string) => call<T>('DELETE', path, undefined, false),
  /** The sign-in exchange: its 401 means "wrong token", not "session expired". */
  signIn: <T>(path: string, body: unknown) => call<T>('POST', path, body, true),
  /** Asking whether a session exists: a 401 is an answer, not an expiry. */
  probe: <T>(path: string) => call<T>('GET', path, undefined, true),
};

/** A query string from the set fields only (an array repeats the key). */
export function query(params: Record<string, string | number | string[] | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== null && one !== '') q.append(k, String(one));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
