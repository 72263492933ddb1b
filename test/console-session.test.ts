// The console's server side as a browser meets it (docs/console.md): the app's files and headers,
// signing in with an operator token for a session cookie, the session's limits, sign-out,
// revocation, roles, and the cross-site checks. Real server, real HTTP (fetch, as a browser).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, tempDir, type TestFleet } from './helpers/server.js';
import type { SessionView } from '../protocol/views.js';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: () => { error?: { code: string; message: string } } & Record<string, unknown>;
}

async function call(base: string, method: string, path: string, o: { cookie?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    redirect: 'manual',
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** Sign in the way the console does; the cookie as a browser would send it back, and the session. */
async function signIn(base: string, token: string): Promise<{ cookie: string; session: SessionView; setCookie: string }> {
  const a = await call(base, 'POST', '/v1/session', { body: { token } });
  expect(a.status, a.text).toBe(200);
  const setCookie = a.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0], session: a.json() as unknown as SessionView, setCookie };
}

describe('console: app files and headers', () => {
  let fleet: TestFleet;
  let bare: TestFleet;
  let base: string;

  beforeAll(async () => {
    const app = tempDir('wf-console-');
    mkdirSync(join(app, 'assets'));
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>wasmfleet</title><script type="module" src="/assets/app-3f2a9c.js"></script>');
    writeFileSync(join(app, 'assets', 'app-3f2a9c.js'), 'console.log("app")');
    fleet = await startFleet({ consoleDir: app });
    bare = await startFleet({ consoleDir: join(app, 'not-built') });
    base = fleet.server.httpUrl;
  });
  afterAll(async () => {
    await fleet?.close();
    await bare?.close();
  });

  it('serves the app at / and at any page path, with a strict CSP and no caching of index.html', async () => {
    for (const path of ['/', '/devices', '/rollouts/r-123', '/devices/dev-1?tab=history', '/modules/app@1.2.0', '/audit?action=device.add']) {
      const a = await call(base, 'GET', path);
      expect(a.status, path).toBe(200);
      expect(a.text).toContain('<title>wasmfleet</title>');
      expect(a.headers.get('content-type')).toContain('text/html');
      expect(a.headers.get('cache-control')).toBe('no-cache');
      const csp = a.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('serves hashed assets as immutable, and a missing asset is a 404, not the app', async () => {
    const js = await call(base, 'GET', '/assets/app-3f2a9c.js');
    expect(js.status).toBe(200);
    expect(js.text).toBe('console.log("app")');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toContain('javascript');
    for (const path of ['/assets/app-000000.js', '/assets/gone', '/favicon.ico']) {
      const missing = await call(base, 'GET', path);
      expect(missing.status, path).toBe(404);
      expect(missing.text).not.toContain('<title>');
    }
  });

  it('keeps /v1 the API: an unknown API path is the JSON 404, not the app', async () => {
    const a = await call(base, 'GET', '/v1/no-such-thing', { headers: { authorization: `Bearer ${fleet.server.operatorToken}` } });
    expect(a.status).toBe(404);
    expect(a.json().error?.code).toBe('ROUTE_NOT_FOUND');
    const health = await call(base, 'GET', '/v1/health');
    expect(health.json()).toEqual({ ok: true });
  });

  it('says how to build the console when it is not built', async () => {
    const a = await call(bare.server.httpUrl, 'GET', '/');
    expect(a.status).toBe(503);
    expect(a.headers.get('content-type')).toContain('text/plain');
    expect(a.text).toContain('web console is not built');
    expect(a.text).toContain('npm install');
  });
});

describe('console: sessions', () => {
  let fleet: TestFleet;
  let base: string;
  let now = Date.UTC(2026, 10, 23, 12, 0, 0);

  beforeAll(async () => {
    // A fake clock drives the session limits (and the rollout engine, idle here).
    fleet = await startFleet({ clock: () => now, sessionLimits: { idleMs: 3600_000, absoluteMs: 12 * 3600_000 }, limits: { apiFailedAuth: { capacity: 3, perSecond: 1 / 3600 } } });
    base = fleet.server.httpUrl;
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('exchanges the operator token for an HttpOnly, SameSite=Strict cookie and tells who is signed in', async () => {
    const { cookie, session, setCookie } = await signIn(base, fleet.server.operatorToken);
    expect(setCookie).toMatch(/^wf_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure'); // clear text on loopback; HTTPS adds it
    expect(setCookie).not.toContain(fleet.server.operatorToken);
    expect(session).toMatchObject({ name: 'operator-token', role: 'admin', expiresAt: now + 12 * 3600_000, idleExpiresAt: now + 3600_000 });
    expect(session.csrf).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const me = await call(base, 'GET', '/v1/session', { cookie });
    expect(me.status).toBe(200);
    expect(me.json()).toEqual(session);
    // the cookie opens the API like the token does
    const devices = await call(base, 'GET', '/v1/devices', { cookie });
    expect(devices.status).toBe(200);
    expect(devices.json()).toEqual({ devices: [] });
  });

  it('signs out: the session is gone on the server, the old cookie gets SESSION_EXPIRED', async () => {
    const { cookie, session } = await signIn(base, fleet.server.operatorToken);
    const out = await call(base, 'DELETE', '/v1/session', { cookie, headers: { 'x-wf-csrf': session.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^wf_session=;/);
    const again = await call(base, 'GET', '/v1/devices', { cookie });
    expect(again.status).toBe(401);
    expect(again.json().error?.code).toBe('SESSION_EXPIRED');
  });

  it('ends a session after the idle limit, and after the absolute limit even when used', async () => {
    const idle = await signIn(base, fleet.server.operatorToken);
    now += 59 * 60_000;
    expect((await call(base, 'GET', '/v1/session', { cookie: idle.cookie })).status).toBe(200); // a request moves the idle limit
    now += 59 * 60_000;
    expect((await call(base, 'GET', '/v1/session', { cookie: idle.cookie })).status).toBe(200);
    now += 61 * 60_000;
    const expired = await call(base, 'GET', '/v1/session', { cookie: idle.cookie });
    expect(expired.status).toBe(401);
    expect(expired.json().error?.code).toBe('SESSION_EXPIRED');

    const busy = await signIn(base, fleet.server.operatorToken);
    for (let h = 1; h <= 15; h++) {
      now += 50 * 60_000;
      // used every 50 minutes: the idle limit never ends it; 12 hours (720 min) after sign-in does
      expect((await call(base, 'GET', '/v1/session', { cookie: busy.cookie })).status, `after ${h} × 50 min`).toBe(h * 50 < 720 ? 200 : 401);
    }
    const late = await call(base, 'GET', '/v1/devices', { cookie: busy.cookie });
    expect(late.json().error?.code).toBe('SESSION_EXPIRED');
  });

  it('ends every session of a revoked token at once, and a viewer session is held to the viewer role', async () => {
    const viewer = await fleet.api.post<{ id: string; token: string }>('/v1/tokens', { name: 'wall-screen', role: 'viewer' });
    const a = await signIn(base, viewer.token);
    const b = await signIn(base, viewer.token);
    expect(a.session).toMatchObject({ name: 'wall-screen', role: 'viewer' });
    expect((await call(base, 'GET', '/v1/rollouts', { cookie: a.cookie })).status).toBe(200);
    const add = await call(base, 'POST', '/v1/devices', { cookie: a.cookie, body: { id: 'dev-x' }, headers: { 'x-wf-csrf': a.session.csrf } });
    expect(add.status).toBe(403);
    expect(add.json().error?.code).toBe('AUTH_FORBIDDEN');
    expect(add.json().error?.message).toContain('needs the admin role');

    await fleet.api.post(`/v1/tokens/${viewer.id}/revoke`, {});
    for (const s of [a, b]) {
      const after = await call(base, 'GET', '/v1/rollouts', { cookie: s.cookie });
      expect(after.status).toBe(401);
      expect(after.json().error?.code).toBe('SESSION_EXPIRED');
    }
    // and the revoked token cannot sign in again
    const again = await call(base, 'POST', '/v1/session', { body: { token: viewer.token } });
    expect(again.status).toBe(401);
  });

  it('keeps bearer tokens working as before, whatever cookie comes with them', async () => {
    const r = await call(base, 'POST', '/v1/devices', { cookie: 'wf_session=stale', headers: { authorization: `Bearer ${fleet.server.operatorToken}` }, body: { id: 'dev-bearer' } });
    expect(r.status).toBe(201); // no CSRF header needed: a browser never sends Authorization on its own
  });

  it('refuses a wrong token with a clear message, counted by the failed-authentication throttle', async () => {
    const bad = await call(base, 'POST', '/v1/session', { body: { token: 'not-a-token' } });
    expect(bad.status).toBe(401);
    expect(bad.json().error).toEqual({ code: 'AUTH_REQUIRED', message: 'missing or wrong operator token: that operator token is unknown or revoked' });
    expect(bad.headers.get('set-cookie')).toBeNull();
    // capacity 3 (this suite's limit): the revoked-token sign-in above, this one, one more... then refused
    await call(base, 'POST', '/v1/session', { body: { token: 'not-a-token' } });
    const throttled = await call(base, 'POST', '/v1/session', { body: { token: fleet.server.operatorToken } });
    expect(throttled.status).toBe(429);
    expect(throttled.json().error?.code).toBe('AUTH_THROTTLED');
  });
});

describe('console: sessions over HTTPS', () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ tls: true });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('marks the cookie Secure when the API speaks TLS', async () => {
    const url = new URL('/v1/session', fleet.server.httpUrl);
    const body = JSON.stringify({ token: fleet.server.operatorToken });
    const setCookie = await new Promise<string[]>((resolve, reject) => {
      const req = httpsRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, ca: readFileSync(fleet.server.caFile!, 'utf8') }, (res) => {
        res.resume();
        expect(res.statusCode).toBe(200);
        resolve(res.headers['set-cookie'] ?? []);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(setCookie.length).toBe(1);
    expect(setCookie[0]).toMatch(/; Secure(;|$)/);
    expect(setCookie[0]).toContain('HttpOnly');
    expect(setCookie[0]).toContain('SameSite=Strict');
  });
});

describe('console: cross-site requests', () => {
  let fleet: TestFleet;
  let base: string;
  let cookie: string;
  let csrf: string;

  beforeAll(async () => {
    fleet = await startFleet();
    base = fleet.server.httpUrl;
    const s = await signIn(base, fleet.server.operatorToken);
    cookie = s.cookie;
    csrf = s.session.csrf;
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const addDevice = (id: string, headers: Record<string, string>) => call(base, 'POST', '/v1/devices', { cookie, body: { id }, headers });

  it('refuses a state change by cookie without the CSRF header, or with a wrong one, and changes nothing', async () => {
    const none = await addDevice('csrf-1', {});
    expect(none.status).toBe(403);
    expect(none.json().error?.code).toBe('CSRF_REFUSED');
    expect(none.json().error?.message).toContain('no x-wf-csrf header');
    const wrong = await addDevice('csrf-2', { 'x-wf-csrf': csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) });
    expect(wrong.status).toBe(403);
    expect(wrong.json().error?.code).toBe('CSRF_REFUSED');
    const { devices } = await fleet.api.get<{ devices: Array<{ id: string }> }>('/v1/devices');
    expect(devices.map((d) => d.id)).toEqual([]);
  });

  it('refuses a cookie request from another origin even with the right header', async () => {
    const cross = await addDevice('csrf-3', { 'x-wf-csrf': csrf, origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.json().error?.code).toBe('ORIGIN_REFUSED');
    const signInCross = await call(base, 'POST', '/v1/session', { body: { token: fleet.server.operatorToken }, headers: { origin: 'https://evil.example' } });
    expect(signInCross.status).toBe(403);
    expect(signInCross.json().error?.code).toBe('ORIGIN_REFUSED');
    expect(signInCross.headers.get('set-cookie')).toBeNull();
  });

  it('accepts the same request from the page: right header, own origin', async () => {
    const ok = await addDevice('csrf-4', { 'x-wf-csrf': csrf, origin: base });
    expect(ok.status).toBe(201);
    const { devices } = await fleet.api.get<{ devices: Array<{ id: string }> }>('/v1/devices');
    expect(devices.map((d) => d.id)).toEqual(['csrf-4']);
    // and reading needs no header at all
    expect((await call(base, 'GET', '/v1/devices/csrf-4', { cookie })).status).toBe(200);
  });
});
