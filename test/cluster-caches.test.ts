// Two server instances in one process on one PostgreSQL database (docs/scale-out.md, "caches"):
// what one instance changes reaches the other's in-memory caches through the change feed. Each
// instance here runs its own embedded broker, which authenticates devices from that instance's
// credential cache, so the cache is what decides: a device added through A connects through B;
// once B has cached it, a revocation or a new password made through A is what B enforces.
// Operator tokens likewise; and the follower sends a new device to the leader's engine.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import { startServer, type FleetServer } from '../server/index.js';
import { createDatabase, type TestDatabase } from './helpers/postgres.js';
import { tempDir, waitFor } from './helpers/server.js';

const TOKEN = 'cluster-caches-operator-token-0123456789';
const dir = tempDir('wf-cluster-caches-');
let db: TestDatabase;
let a: FleetServer;
let b: FleetServer;
let apiA: ApiClient;
let apiB: ApiClient;

beforeAll(async () => {
  initKeys(join(dir, 'keys'));
  db = await createDatabase('wfcache');
  const common = { keysDir: join(dir, 'keys'), db: db.url, httpPort: 0, mqttPort: 0, wsPort: false as const, log: false as const, operatorToken: TOKEN };
  a = await startServer({ ...common, dataDir: join(dir, 'a') });
  b = await startServer({ ...common, dataDir: join(dir, 'b') });
  apiA = new ApiClient({ server: a.httpUrl, token: TOKEN });
  apiB = new ApiClient({ server: b.httpUrl, token: TOKEN });
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Log in to B's broker: 'connected' or the refusal. */
const connectToB = (id: string, password: string) =>
  mqtt
    .connectAsync(b.mqttUrl, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 5000 })
    .then(async (c) => {
      await c.endAsync();
      return 'connected';
    })
    .catch((err: Error) => `refused: ${err.message}`);

/**
 * B refuses this password as a bad login (CONNACK 4), not for another reason: the broker also
 * refuses a device that connects too often (CONNACK 3), so attempts are paced.
 */
const badLoginAtB = async (id: string, password: string) => {
  await new Promise((r) => setTimeout(r, 200));
  return /Bad username or password/i.test(await connectToB(id, password));
};

describe('caches follow each other through the change feed', () => {
  it('one leads, the other follows', async () => {
    expect(a.cluster()).toMatchObject({ leader: true, mode: 'postgres' });
    expect(b.cluster()).toMatchObject({ leader: false, mode: 'postgres' });
    const s = await apiB.get<{ instance: { leader: boolean } }>('/v1/status');
    expect(s.instance.leader).toBe(false);
  });

  it("a device added through A connects through B's cache; revoked through A, B refuses it", async () => {
    const creds = await apiA.post<{ id: string; password: string }>('/v1/devices', { id: 'cache-1' });
    expect(await connectToB('cache-1', creds.password)).toBe('connected'); // B now has it cached
    await apiA.post('/v1/devices/cache-1/revoke', {});
    await waitFor('B refuses the revoked device', () => badLoginAtB('cache-1', creds.password), 3000);
  });

  it('a password rotated through A: B refuses the old one and takes the new one', async () => {
    const first = await apiA.post<{ id: string; password: string }>('/v1/devices', { id: 'cache-2' });
    expect(await connectToB('cache-2', first.password)).toBe('connected');
    const second = await apiA.post<{ password: string }>('/v1/devices/cache-2/credentials', {});
    await waitFor('B refuses the old password', () => badLoginAtB('cache-2', first.password), 3000);
    expect(await connectToB('cache-2', second.password)).toBe('connected');
  });

  it('an operator token made through A works on B at once', async () => {
    const t = await apiA.post<{ id: string; token: string }>('/v1/tokens', { name: 'ci', role: 'viewer' });
    const viaB = new ApiClient({ server: b.httpUrl, token: t.token });
    expect((await viaB.get<{ devices: number }>('/v1/status')).devices).toBeGreaterThan(0);
  });

  it('a token B has cached, revoked through A: B refuses it', async () => {
    // Made through B: B re-reads its token cache after its own write, so the token is in it.
    const t = await apiB.post<{ id: string; token: string }>('/v1/tokens', { name: 'ops', role: 'viewer' });
    const viaB = new ApiClient({ server: b.httpUrl, token: t.token });
    expect((await viaB.get<{ devices: number }>('/v1/status')).devices).toBeGreaterThan(0);
    await apiA.post(`/v1/tokens/${t.id}/revoke`, {});
    await waitFor('B refuses the revoked token', async () => viaB.get('/v1/status').then(() => false, (err: Error) => /401|TOKEN|unauthor/i.test(err.message)), 5000);
  });
});
