// Key lifecycle: an expired key document is renewed (the server refused to start on it, and
// rotation used to copy the expired date); expiry is shown and warned about well before it comes;
// the root rotates through a chain devices walk; a revoked release key's releases are refused.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initKeys } from '../cli/commands/keys-init.js';
import { renewKeys } from '../cli/commands/keys-renew.js';
import { rotateKey } from '../cli/commands/keys-rotate.js';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import {
  checkBundle,
  decodeBundle,
  deviceTopic,
  fromHex,
  openKeyDocument,
  readKeyDocumentFile,
  readPublicKey,
  readRootChain,
  WfError,
} from '../protocol/index.js';
import pino from 'pino';
import { startServer } from '../server/index.js';
import { loadTrust } from '../server/trust.js';
import { connectAs, deviceContext, nextMessage, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const NOW = () => Math.floor(Date.now() / 1000);
const YEAR = 365 * 86400;
const DAY = 86400;
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof WfError ? err.code : String(err);
  }
  return undefined;
}

describe('an expired key document', () => {
  it('stops the server with a hint; keys rotate and keys renew both issue a valid successor', () => {
    const dir = join(tempDir(), 'keys');
    initKeys(dir, NOW() - 3 * YEAR); // expired a year ago
    expect(codeOf(() => loadTrust(dir))).toBe('KEYDOC_EXPIRED');
    expect(() => loadTrust(dir)).toThrow(/keys renew/);

    const rotated = rotateKey(dir, 'director');
    expect(rotated.serial).toBe(2);
    const afterRotate = loadTrust(dir).keyDocument;
    expect(afterRotate.expires).toBeGreaterThan(NOW() + YEAR); // not the expired date copied over
    expect(afterRotate.keys.every((k) => k.expires === afterRotate.expires)).toBe(true);

    const renewed = renewKeys(dir, 1);
    expect(renewed.serial).toBe(3);
    const doc = loadTrust(dir).keyDocument;
    expect(doc.expires).toBeGreaterThan(NOW() + YEAR - DAY);
    expect(doc.keys.map((k) => k.role).sort()).toEqual(['director', 'director', 'release']); // same keys, none dropped
  });
});

describe('expiry warnings in the server log', () => {
  it('a server started on keys that expire within 60 days logs a warning naming keys renew', async () => {
    const dir = tempDir();
    const keysDir = join(dir, 'keys');
    initKeys(keysDir);
    renewKeys(keysDir, 20 / 365);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const server = await startServer({ dataDir: join(dir, 'data'), keysDir, httpPort: 0, mqttPort: 0, wsPort: false, log });
    await server.close();
    const warn = lines.map((l) => JSON.parse(l) as { level: number; msg: string; daysLeft?: number }).find((l) => /expires in/.test(l.msg));
    expect(warn?.level).toBe(40);
    expect(warn?.msg).toMatch(/key document expires in (19|20) day\(s\).*wasmfleet keys renew/);
  });
});

describe('the CLI binary', () => {
  it('keys renew and keys rotate root write what the server then loads', async () => {
    const dir = join(tempDir(), 'keys');
    const run = (args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args]);
    await run(['keys', 'init', '--dir', dir]);
    const renewed = JSON.parse((await run(['keys', 'renew', '--dir', dir, '--years', '3', '--json'])).stdout) as { serial: number; expires: number };
    expect(renewed.serial).toBe(2);
    expect(renewed.expires).toBeGreaterThan(NOW() + 3 * YEAR - DAY);
    const provisioned = readPublicKey(dir, 'root');
    const rotated = JSON.parse((await run(['keys', 'rotate', 'root', '--dir', dir, '--json'])).stdout) as { serial: number; rootVersion: number };
    expect(rotated).toMatchObject({ serial: 3, rootVersion: 2 });
    const trust = loadTrust(dir);
    expect(trust.root.version).toBe(2);
    expect(Buffer.from(trust.rootPublicKey).equals(Buffer.from(provisioned))).toBe(true);
    expect(trust.roots).toHaveLength(1);
    const usage = await run(['keys', 'rotate', 'timestamp', '--dir', dir]).catch((e: { code: number; stderr: string }) => e);
    expect((usage as { code: number }).code).toBe(1);
    expect((usage as { stderr: string }).stderr).toMatch(/role must be one of release, director, root/);
  });
});

describe('with a running server', () => {
  let fleet: TestFleet;
  let engine: NodeEngine;
  const agents: DeviceAgent[] = [];
  beforeAll(async () => {
    fleet = await startFleet();
    engine = new NodeEngine({ workers: 1 });
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await engine?.close();
    await fleet?.close();
  });

  it('status shows the key expiry and warns within 60 days (API and CLI)', async () => {
    let s = await fleet.api.get<{ keys: { serial: number; daysLeft: number; warning?: string } }>('/v1/status');
    expect(s.keys.serial).toBe(1);
    expect(s.keys.daysLeft).toBeGreaterThan(700);
    expect(s.keys.warning).toBeUndefined();

    renewKeys(fleet.keysDir, 30 / 365); // a document that lives 30 days
    await fleet.server.reloadTrust();
    s = await fleet.api.get('/v1/status');
    expect(s.keys.serial).toBe(2);
    expect(s.keys.daysLeft).toBeLessThanOrEqual(30);
    expect(s.keys.warning).toMatch(/key document expires in (29|30) day\(s\).*wasmfleet keys renew/);
    const env = { ...process.env, WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken };
    const out = await promisify(execFile)(process.execPath, [CLI, 'status'], { env });
    expect(out.stdout).toMatch(/keys: key document serial 2, root version 1; key document expires \d{4}-\d\d-\d\d \(in (29|30) days\)/);
    expect(out.stdout).toMatch(/WARNING: key document expires in/);
    renewKeys(fleet.keysDir);
    await fleet.server.reloadTrust();
  });

  it('a root rotation reaches a device through the chain; the device then refuses the old root alone', async () => {
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.publish('counter', 'counter', '1.1.0');
    const creds = await fleet.addDevice('root-1');
    const stateDir = tempDir();
    const agent = new DeviceAgent({ deviceId: 'root-1', mqttUrl: creds.mqttUrl, password: creds.password, rootPublicKey: fromHex(creds.rootPublicKey), stateDir, engine, probation: { ticks: 2 } });
    agents.push(agent);
    await agent.start();
    // A device that will never act on a bundle: it learns of the rotation from the freshness message.
    const idleCreds = await fleet.addDevice('root-idle');
    const idleDir = tempDir();
    const idle = new DeviceAgent({ deviceId: 'root-idle', mqttUrl: idleCreds.mqttUrl, password: idleCreds.password, rootPublicKey: fromHex(idleCreds.rootPublicKey), stateDir: idleDir, engine });
    agents.push(idle);
    await idle.start();
    await waitFor('idle device connected', () => idle.status().connected);
    // A bundle under the provisioned root, kept to replay later.
    const spyCreds = await fleet.addDevice('root-old');
    const spy = await connectAs(spyCreds);
    const oldBundle = nextMessage(spy, deviceTopic('root-old', 'directive'));
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['root-old'] });
    const beforeRotation = await oldBundle;
    await spy.endAsync();

    const provisioned = readPublicKey(fleet.keysDir, 'root');
    const r = rotateKey(fleet.keysDir, 'root');
    expect(r.rootVersion).toBe(2);
    await fleet.server.reloadTrust();
    expect(readRootChain(fleet.keysDir)).toHaveLength(1);
    const readState = (dir: string) => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { keydocSerial: number; root?: { version: number } };
    const idleState = await waitFor('idle device raised its root from freshness', () => {
      const s = readState(idleDir);
      return s.root?.version === 2 ? s : undefined;
    });
    expect(idleState.keydocSerial).toBe(loadTrust(fleet.keysDir).keyDocument.serial);
    // New devices are still provisioned with the root they walk from.
    expect((await fleet.addDevice('root-2')).rootPublicKey).toBe(Buffer.from(provisioned).toString('hex'));

    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['root-1'] });
    await waitFor('committed under root 2', () => agent.status().state === 'committed' && agent.status().running[0]?.version === '1.0.0');
    await agent.stop();
    expect(readState(stateDir).root?.version).toBe(2);

    // Device checks with the trust it now holds: the old root's bundle is refused, the new one accepted.
    const trusted = { version: 2, publicKey: readPublicKey(fleet.keysDir, 'root') };
    const ctx = deviceContext(creds, { keydocSerial: 1, root: trusted });
    expect(codeOf(() => checkBundle(beforeRotation, { ...ctx, deviceId: 'root-old' }))).toBe('ROOT_ROLLBACK');
    const client = await connectAs(await fleet.addDevice('root-3'));
    const next = nextMessage(client, deviceTopic('root-3', 'directive'));
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.1.0', devices: ['root-3'] });
    const bundle = await next;
    await client.endAsync();
    expect(decodeBundle(bundle).roots).toHaveLength(1);
    expect(checkBundle(bundle, { ...ctx, deviceId: 'root-3' }).root.version).toBe(2);
    expect(openKeyDocument(readKeyDocumentFile(fleet.keysDir), { rootPublicKey: trusted.publicKey, now: NOW() }).serial).toBeGreaterThan(1);
  }, 60_000);

  it('after keys rotate release --revoke-old, the server refuses to deploy what the revoked key signed', async () => {
    await fleet.publish('counter', 'counter', '2.0.0');
    await fleet.addDevice('revoke-1');
    // A device that was offline: its retained directive names a release the revoked key signed.
    const offline = await fleet.addDevice('revoke-offline');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '2.0.0', devices: ['revoke-offline'] });
    const before = await connectAs(offline);
    expect((await nextMessage(before, deviceTopic('revoke-offline', 'directive'))).length).toBeGreaterThan(0);
    await before.endAsync();
    rotateKey(fleet.keysDir, 'release', true);
    await fleet.server.reloadTrust();
    // The server withdrew it: the device finds no directive when it comes back.
    const back = await connectAs(offline);
    const seen: number[] = [];
    back.on('message', (_t, p: Buffer) => seen.push(p.length));
    await back.subscribeAsync(deviceTopic('revoke-offline', 'directive'), { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    await back.endAsync();
    expect(seen).toEqual([]);
    const refused = await fleet.api.post('/v1/deployments', { module: 'counter', version: '2.0.0', devices: ['revoke-1'] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WfError);
    expect((refused as WfError).code).toBe('COSE_UNKNOWN_KID');
    expect((refused as WfError).message).toMatch(/counter@2\.0\.0 is signed by a release key the current key document no longer accepts/);
    // Signed with the new release key, a new version deploys.
    await fleet.publish('counter', 'counter', '2.0.1');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '2.0.1', devices: ['revoke-1'] });
  });
});
