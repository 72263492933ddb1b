// Freeze protection end to end (protocol.md §3.6): the real server signs freshness statements and
// publishes them retained on wf/v1/fleet/freshness through the real broker; a simulated device
// whose clock is moved past the window while the server holds statements back reports `stale`,
// keeps running its module, and the operator sees it in `status` and `devices list`; when the
// server resumes, the device is fresh again.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import type { Report } from '../protocol/messages.js';
import { checkFreshness, fromHex, FRESHNESS_TOPIC } from '../protocol/index.js';
import { connectAs, nextMessage, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const HOUR_MS = 3600_000;
let fleet: TestFleet;
let engine: NodeEngine;
let serverClockOffset = 0;
const agents: DeviceAgent[] = [];

beforeAll(async () => {
  fleet = await startFleet({ freshness: { intervalSeconds: 600, ttlSeconds: 3600, clock: () => Math.floor((Date.now() + serverClockOffset) / 1000) } });
  await fleet.publish('counter', 'counter', '1.0.0');
  engine = new NodeEngine({ workers: 1 });
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await engine?.close();
  await fleet?.close();
});

async function boot(id: string): Promise<DeviceAgent> {
  const creds = await fleet.addDevice(id);
  const agent = new DeviceAgent({
    deviceId: id,
    mqttUrl: creds.mqttUrl,
    password: creds.password,
    rootPublicKey: fromHex(creds.rootPublicKey),
    stateDir: tempDir(),
    engine,
    probation: { ticks: 2 },
    freshnessCheckMs: 100,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

type DeviceRow = { id: string; state: string; reason: string | null; running: Array<{ component: string; version: string }> };
const serverRow = async (id: string) => (await fleet.api.get<{ devices: DeviceRow[] }>('/v1/devices')).devices.find((d) => d.id === id);

describe('freshness statements', () => {
  it('a device kept from statements past the window reports stale, keeps its module, and recovers when they resume', async () => {
    const agent = await boot('fresh-1');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['fresh-1'] });
    await waitFor('committed', async () => (await serverRow('fresh-1'))?.state === 'committed');
    const ticks: Report[] = [];
    agent.on('telemetry', (t) => ticks.push(t));

    // Hold statements back (a frozen server or a broker that withholds them) and let two hours pass on the device.
    fleet.server.freshness.pause();
    agent.setClockOffset(2 * HOUR_MS);
    expect(agent.status()).toMatchObject({ state: 'stale', reason: 'FRESHNESS_EXPIRED' });
    const row = await waitFor('server sees stale', async () => {
      const r = await serverRow('fresh-1');
      return r?.state === 'stale' ? r : undefined;
    });
    expect(row.reason).toBe('FRESHNESS_EXPIRED');
    expect(row.running).toEqual([expect.objectContaining({ component: 'counter', version: '1.0.0' })]);
    const status = await fleet.api.get<{ stale: string[]; states: Record<string, number> }>('/v1/status');
    expect(status.stale).toEqual(['fresh-1']);
    expect(status.states.stale).toBe(1);
    // The operator's view, through the real CLI binary.
    const cli = join(process.cwd(), 'dist', 'cli', 'main.js');
    const env = { ...process.env, WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken };
    const list = await promisify(execFile)(process.execPath, [cli, 'devices', 'list'], { env });
    expect(list.stdout).toMatch(/fresh-1\s+stale\s+counter\s+1\.0\.0/);
    const st = await promisify(execFile)(process.execPath, [cli, 'status'], { env });
    expect(st.stdout).toMatch(/WARNING: 1 device\(s\) stale \(no valid freshness statement\): fresh-1/);
    // It keeps running its module while stale.
    const before = ticks.length;
    await waitFor('module still ticking', () => ticks.length > before + 1);

    // The server resumes (its clock has moved on too): a newer statement makes the device fresh again.
    serverClockOffset = 2 * HOUR_MS;
    fleet.server.freshness.resume();
    await waitFor('device fresh again', () => agent.status().state === 'committed');
    await waitFor('server sees committed', async () => (await serverRow('fresh-1'))?.state === 'committed');
  }, 60_000);

  it('statements a device cannot verify (forged, or under another root) leave it stale with FRESHNESS_MISSING', async () => {
    const creds = await fleet.addDevice('fresh-2');
    const logs: string[] = [];
    const agent = new DeviceAgent({
      deviceId: 'fresh-2',
      mqttUrl: creds.mqttUrl,
      password: creds.password,
      rootPublicKey: new Uint8Array(32).fill(7), // not the fleet's root: every statement is refused
      stateDir: tempDir(),
      engine,
      freshnessCheckMs: 100,
    });
    agents.push(agent);
    agent.on('log', (l: string) => logs.push(l));
    await agent.start();
    await waitFor('statement refused', () => logs.some((l) => l.startsWith('freshness statement refused: COSE_UNKNOWN_KID')));
    expect(agent.status().state).toBe('idle'); // within the grace after boot
    agent.setClockOffset(HOUR_MS + 1000);
    expect(agent.status()).toMatchObject({ state: 'stale', reason: 'FRESHNESS_MISSING' });
  }, 30_000);

  it('devices may read the freshness topic but not publish to it', async () => {
    const creds = await fleet.addDevice('fresh-acl');
    const client = await connectAs(creds);
    const granted = await client.subscribeAsync(FRESHNESS_TOPIC, { qos: 1 });
    expect(granted[0].qos).toBe(1);
    // The broker refuses it (and drops the connection): no acknowledgement to wait for.
    client.publish(FRESHNESS_TOPIC, Buffer.from([0xa0]), { qos: 0, retain: true });
    await new Promise((r) => setTimeout(r, 300));
    client.end(true);
    // The retained statement is still the server's, and it verifies.
    const reader = await connectAs(await fleet.addDevice('fresh-acl-2'));
    const retained = await nextMessage(reader, FRESHNESS_TOPIC);
    await reader.endAsync();
    const checked = checkFreshness(retained, { rootPublicKey: fromHex(creds.rootPublicKey), keydocSerial: 1, now: Math.floor((Date.now() + serverClockOffset) / 1000) });
    expect(checked.statement.expires - checked.statement.issuedAt).toBe(3600);
  }, 30_000);

  it('wasmfleet server refuses a statement lifetime shorter than its interval (devices would go stale in between)', async () => {
    const dir = tempDir();
    const r = await promisify(execFile)(process.execPath, [join(process.cwd(), 'dist', 'cli', 'main.js'), 'server', '--data', join(dir, 'data'), '--keys', fleet.keysDir,
      '--http-port', '1', '--freshness-interval', '600', '--freshness-ttl', '300']).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(1);
    expect((r as { stderr: string }).stderr).toMatch(/REQUEST_INVALID.*lifetime \(300 s\) must exceed the interval \(600 s\)/);
  });
});
