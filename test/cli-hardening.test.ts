// Issue 9, findings 3, 4, 5 and operator access, through the real CLI binary against a real server
// with devices that say what a hostile device would say (real mqtt clients).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModuleFile } from '../cli/wat.js';
import { deviceTopic, encodeReport, fromHex } from '../protocol/index.js';
import { connectAs, EXAMPLES, nextMessage, startFleet, storedBytes, waitFor, type DeviceCredentials, type TestFleet } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

let fleet: TestFleet;
let env: Record<string, string>;
const clients: MqttClient[] = [];

async function cli(args: string[], extra: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...extra } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const now = () => Math.floor(Date.now() / 1000);

async function device(id: string, tags?: Record<string, string>): Promise<{ creds: DeviceCredentials; client: MqttClient }> {
  const creds = await fleet.addDevice(id, tags);
  const client = await connectAs(creds);
  clients.push(client);
  return { creds, client };
}

/** A committed report, as an agent sends it, for any release the device cares to name. */
function committed(client: MqttClient, id: string, sequence: number, version: string, digest: string) {
  return client.publishAsync(
    deviceTopic(id, 'report'),
    Buffer.from(encodeReport({ state: 'committed', sequence, running: [{ component: 'counter', version, manifestDigest: fromHex(digest) }], time: now() })),
    { qos: 1, retain: true },
  );
}

beforeAll(async () => {
  fleet = await startFleet({ maxModuleBytes: 64 * 1024 });
  env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
  await fleet.publish('counter', 'counter', '1.0.0');
  await fleet.publish('counter', 'counter', '2.0.0');
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await fleet?.close();
});

describe('finding 4: device text never reaches the terminal as control sequences', () => {
  it('devices list and show print a detail with ESC[2J and a bidi override only in escaped form; --json stays exact', async () => {
    const { creds, client } = await device('term-1');
    const detail = 'trap \u001b[2J\u001b]0;owned\u0007 at \u202eexe.txt\u009b';
    await client.publishAsync(
      deviceTopic(creds.id, 'report'),
      Buffer.from(encodeReport({ state: 'failed', reason: 'MODULE_TRAP', sequence: 0, running: [], detail, time: now() })),
      { qos: 1, retain: true },
    );
    await waitFor('report stored', async () => (await fleet.api.get<{ state: string }>(`/v1/devices/${creds.id}`)).state === 'failed');

    for (const args of [['devices', 'list'], ['devices', 'show', creds.id]]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('MODULE_TRAP: trap \\x1b[2J\\x1b]0;owned\\x07 at \\u202eexe.txt\\x9b');
      // Nothing but newlines below 0x20, no DEL/C1, no bidi controls.
      expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
    const json = await cli(['devices', 'show', creds.id, '--json']);
    expect(JSON.parse(json.stdout).detail).toBe(detail);
  });
});

describe('finding 3: one lying device cannot block a rollback of its group', () => {
  it('rollback --tag goes ahead for the honest devices and skips the liar, naming it', async () => {
    const m1 = await fleet.api.get<{ manifestDigest: string }>('/v1/modules/counter/1.0.0');
    const m2 = await fleet.api.get<{ manifestDigest: string }>('/v1/modules/counter/2.0.0');
    const honest = [await device('grp-a', { group: 'g1' }), await device('grp-b', { group: 'g1' })];
    for (const d of honest) {
      await committed(d.client, d.creds.id, 1, '1.0.0', m1.manifestDigest);
      await committed(d.client, d.creds.id, 2, '2.0.0', m2.manifestDigest);
    }
    // The liar claims to have committed releases the registry never had.
    const liar = await device('grp-liar', { group: 'g1' });
    await committed(liar.client, liar.creds.id, 1, '6.6.6', 'ab'.repeat(32));
    await committed(liar.client, liar.creds.id, 2, '2.0.0', m2.manifestDigest);
    for (const id of ['grp-a', 'grp-b', 'grp-liar']) {
      await waitFor(`${id} reports 2.0.0`, async () => (await fleet.api.get<{ running: Array<{ version: string }> }>(`/v1/devices/${id}`)).running[0]?.version === '2.0.0');
    }

    const directives = honest.map((d) => nextMessage(d.client, deviceTopic(d.creds.id, 'directive')));
    const r = await cli(['rollback', '--tag', 'group=g1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/grp-a\s+counter@2\.0\.0\s+1\.0\.0/);
    expect(r.stdout).toMatch(/grp-b\s+counter@2\.0\.0\s+1\.0\.0/);
    expect(r.stdout).toContain('skipped grp-liar: MODULE_NOT_FOUND');
    expect(r.stdout).toContain('grp-liar would go back to counter@6.6.6, which is not in the registry');
    await Promise.all(directives); // the honest devices got their rollback directives
    const liarView = await fleet.api.get<{ targetSequence: number | null; sequence: number }>('/v1/devices/grp-liar');
    expect(liarView.sequence).toBe(2); // nothing issued to the liar beyond what it reported
  });
});

describe('finding 5: reserved ids and the server limit on modules', () => {
  it('devices add wasmfleet-server (and any wasmfleet* id) is refused with DEVICE_ID_RESERVED, exit 1', async () => {
    for (const id of ['wasmfleet-server', 'WasmFleet-server-1a2b3c4d']) {
      const r = await cli(['devices', 'add', id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error DEVICE_ID_RESERVED: /);
    }
    const list = await fleet.api.get<{ devices: Array<{ id: string }> }>('/v1/devices');
    expect(list.devices.map((d) => d.id).filter((id) => /^wasmfleet/i.test(id))).toEqual([]);
  });

  it('an oversized module publish reports IMAGE_TOO_LARGE with the server limit (exit 1), not SERVER_UNAVAILABLE', async () => {
    // A valid module with a 16 MiB custom section: far over the server's body limit.
    const wasm = Buffer.from(await loadModuleFile(join(EXAMPLES, 'counter.wat')));
    const name = Buffer.from('pad');
    const leb = (n: number) => {
      const out: number[] = [];
      do {
        let b = n & 0x7f;
        n >>>= 7;
        if (n) b |= 0x80;
        out.push(b);
      } while (n);
      return Buffer.from(out);
    };
    const body = Buffer.concat([leb(name.length), name, Buffer.alloc(16 * 1024 * 1024)]);
    const file = join(fleet.dir, 'big.wasm');
    writeFileSync(file, Buffer.concat([wasm, Buffer.from([0]), leb(body.length), body]));
    const r = await cli(['module', 'publish', file, '--name', 'big', '--version', '1.0.0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error IMAGE_TOO_LARGE: .*big\.wasm: 16\d{6} bytes, the server at .* accepts up to 65536/);
    expect((await cli(['module', 'list', '--json'])).code).toBe(0); // and the server keeps serving
  });
});

describe('limits are configurable', () => {
  it('wasmfleet server --limits refuses unknown keys and non-positive values before starting (exit 1)', async () => {
    const file = join(fleet.dir, 'limits.json');
    writeFileSync(file, JSON.stringify({ chunkBytes: { capacity: 0, perSecond: 1 } }));
    const zero = await cli(['server', '--limits', file, '--data', join(fleet.dir, 'data2'), '--keys', fleet.keysDir]);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/^error REQUEST_INVALID: .*chunkBytes\.capacity must be a positive number/);
    writeFileSync(file, JSON.stringify({ chunkbytes: { capacity: 1, perSecond: 1 } }));
    const unknown = await cli(['server', '--limits', file, '--data', join(fleet.dir, 'data2'), '--keys', fleet.keysDir]);
    expect(unknown.stderr).toMatch(/unknown limit "chunkbytes"/);
  });
});

describe('operator access: tokens with roles, revocation, audit', () => {
  it('a viewer reads but cannot deploy (403 AUTH_FORBIDDEN); a deployer deploys and the audit row names it; a revoked token is refused', async () => {
    const created = async (role: string, name: string) => {
      const r = await cli(['tokens', 'create', '--role', role, '--name', name, '--json']);
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as { id: string; token: string; role: string; name: string };
    };
    const viewer = await created('viewer', 'dashboard');
    const deployer = await created('deployer', 'ci');
    await fleet.addDevice('tok-dev');

    // viewer: reads, cannot deploy or add devices
    expect((await cli(['devices', 'list'], { WASMFLEET_TOKEN: viewer.token })).code).toBe(0);
    const denied = await cli(['deploy', 'counter@1.0.0', '--device', 'tok-dev'], { WASMFLEET_TOKEN: viewer.token });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error AUTH_FORBIDDEN: .*: POST \/v1\/deployments needs the deployer role; token [0-9a-f]{8} \(dashboard\) is viewer/);
    const raw = await fetch(`${fleet.server.httpUrl}/v1/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer.token}` },
      body: JSON.stringify({ module: 'counter', version: '1.0.0', devices: ['tok-dev'] }),
    });
    expect(raw.status).toBe(403);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('AUTH_FORBIDDEN');

    // deployer: deploys; cannot add devices or make tokens (admin)
    const ok = await cli(['deploy', 'counter@1.0.0', '--device', 'tok-dev', '--json'], { WASMFLEET_TOKEN: deployer.token });
    expect(ok.code).toBe(0);
    const deployment = JSON.parse(ok.stdout).deployment as string;
    expect((await cli(['devices', 'add', 'tok-dev-2'], { WASMFLEET_TOKEN: deployer.token })).stderr).toMatch(/AUTH_FORBIDDEN.*needs the admin role/);
    expect((await cli(['tokens', 'create', '--role', 'admin', '--name', 'x'], { WASMFLEET_TOKEN: deployer.token })).stderr).toMatch(/AUTH_FORBIDDEN/);

    // the audit row names the token that acted; tokens are stored hashed only
    const { entries } = await fleet.api.get<{ entries: Array<{ action: string; rollout: string | null; actor: string | null; detail: Record<string, unknown> }> }>('/v1/audit');
    expect(entries.find((e) => e.action === 'deploy.created' && e.rollout === deployment)?.actor).toBe(`${deployer.id} ci`);
    expect(entries.find((e) => e.action === 'token.create' && JSON.stringify(e.detail).includes('dashboard'))?.actor).toMatch(/^[0-9a-f]{8} operator-token$/);
    const stored = await storedBytes(fleet);
    for (const t of [viewer.token, deployer.token, fleet.server.operatorToken]) expect(stored.includes(Buffer.from(t))).toBe(false);

    // revoke: refused from now on, and listed as revoked
    expect((await cli(['tokens', 'revoke', deployer.id])).code).toBe(0);
    const after = await cli(['deploy', 'counter@1.0.0', '--device', 'tok-dev'], { WASMFLEET_TOKEN: deployer.token });
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^error AUTH_REQUIRED/);
    const list = await cli(['tokens', 'list']);
    expect(list.stdout).toMatch(new RegExp(`${deployer.id}\\s+ci\\s+deployer\\s+\\S+ ago\\s+\\S+ ago`));
    expect(list.stdout).toMatch(/operator-token\s+admin/);
  });

  it('the last admin token cannot be revoked', async () => {
    const { tokens } = await fleet.api.get<{ tokens: Array<{ id: string; name: string }> }>('/v1/tokens');
    const bootstrap = tokens.find((t) => t.name === 'operator-token')!;
    const r = await cli(['tokens', 'revoke', bootstrap.id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error TOKEN_LAST_ADMIN/);
  });
});
