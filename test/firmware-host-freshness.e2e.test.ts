// The C host (wasmfleet-device) against the real server and broker: freeze protection and root
// rotation. The device's clock is moved through --clock-offset-file (a fake clock, the only fake).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateKey } from '../cli/commands/keys-rotate.js';
import { buildCDevice, CDevice } from './helpers/c-device.js';
import { startFleet, tempDir, waitFor, type DeviceCredentials, type TestFleet } from './helpers/server.js';

const build = buildCDevice();

interface DeviceView {
  state: string;
  reason: string | null;
  online: boolean;
  running: Array<{ component: string; version: string }>;
}

let fleet: TestFleet;
let serverClockOffset = 0;
const devices: CDevice[] = [];

function startDevice(creds: DeviceCredentials, clockFile: string, stateDir = tempDir('wf-cfresh-')): { log: () => string } {
  const device = new CDevice(creds, ['--probation-ticks', '2', '--clock-offset-file', clockFile], stateDir);
  device.start();
  devices.push(device);
  return { log: () => device.log };
}

const view = (id: string) => fleet.api.get<DeviceView>(`/v1/devices/${id}`);
const waitState = (id: string, check: (d: DeviceView) => boolean, what: string) =>
  waitFor(`${id}: ${what}`, async () => {
    const d = await view(id);
    return check(d) ? d : undefined;
  }, 30_000);

beforeAll(async () => {
  expect(build.ok, build.message).toBe(true);
  fleet = await startFleet({ freshness: { intervalSeconds: 600, ttlSeconds: 3600, clock: () => Math.floor((Date.now() + serverClockOffset) / 1000) } });
  await fleet.publish('counter', 'counter', '1.0.0');
  await fleet.publish('counter', 'counter', '1.1.0');
});

afterAll(async () => {
  for (const d of devices) await d.stop();
  await fleet?.close();
});

describe('C host: freshness and root rotation', () => {
  it('reports stale while statements are held back past its window, keeps its module, recovers when they resume', async () => {
    const clockFile = join(tempDir(), 'clock');
    writeFileSync(clockFile, '0\n');
    const creds = await fleet.addDevice('c-fresh-1');
    const dev = startDevice(creds, clockFile);
    await waitState(creds.id, (d) => d.online, 'online');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [creds.id] });
    await waitState(creds.id, (d) => d.state === 'committed', 'committed');

    fleet.server.freshness.pause();
    writeFileSync(clockFile, '7200\n'); // two hours later, by the device's clock
    const stale = await waitState(creds.id, (d) => d.state === 'stale', 'stale');
    expect(stale.reason).toBe('FRESHNESS_EXPIRED');
    expect(stale.running).toEqual([expect.objectContaining({ component: 'counter', version: '1.0.0' })]);
    expect(dev.log()).toMatch(/agent: stale \(FRESHNESS_EXPIRED\)/);

    serverClockOffset = 7200 * 1000;
    fleet.server.freshness.resume();
    await waitState(creds.id, (d) => d.state === 'committed', 'fresh again (committed)');
    expect(dev.log()).toMatch(/agent: fresh again/);
  }, 60_000);

  it('follows a root rotation through the chain and takes the next release', async () => {
    const clockFile = join(tempDir(), 'clock');
    writeFileSync(clockFile, `${serverClockOffset / 1000}\n`);
    const creds = await fleet.addDevice('c-root-1');
    const stateDir = tempDir('wf-croot-');
    const dev = startDevice(creds, clockFile, stateDir);
    await waitState(creds.id, (d) => d.online, 'online');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [creds.id] });
    await waitState(creds.id, (d) => d.state === 'committed' && d.running[0]?.version === '1.0.0', 'committed 1.0.0');

    rotateKey(fleet.keysDir, 'root');
    await fleet.server.reloadTrust();
    // The freshness message published at the reload carries the chain: the device trusts root 2 at
    // once (record.bin: "wfrec1", then root_version at struct offset 88), before any new directive.
    await waitFor('root version 2 in the device record', () => {
      const rec = readFileSync(join(stateDir, 'record.bin'));
      return rec.length >= 6 + 96 && rec.readBigUInt64LE(6 + 88) === 2n;
    });
    // Its committed directive, re-sent under the new key document, is still its own: no failure.
    await new Promise((r) => setTimeout(r, 500));
    expect((await view(creds.id)).state).toBe('committed');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.1.0', devices: [creds.id] });
    await waitState(creds.id, (d) => d.state === 'committed' && d.running[0]?.version === '1.1.0', 'committed 1.1.0 under root 2');
    expect(dev.log()).not.toMatch(/freshness statement refused/);
  }, 60_000);

  it('reads a device record written before the root fields existed, keeping its key document floor', async () => {
    // The earlier record.bin: "wfrec1", the 88-byte struct without root_version/root_key, FNV-1a.
    const body = Buffer.alloc(88);
    body.writeBigUInt64LE(5n, 0); // keydoc_serial 5: a bundle with serial 1 must now be refused
    let h = 2166136261;
    for (const b of body) h = Math.imul(h ^ b, 16777619) >>> 0;
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(h, 0);
    const stateDir = tempDir('wf-cold-');
    writeFileSync(join(stateDir, 'record.bin'), Buffer.concat([Buffer.from('wfrec1'), body, sum]));
    const clockFile = join(tempDir(), 'clock');
    writeFileSync(clockFile, `${serverClockOffset / 1000}\n`);
    const creds = await fleet.addDevice('c-old-record');
    startDevice(creds, clockFile, stateDir);
    await waitState(creds.id, (d) => d.online, 'online');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [creds.id] });
    const d = await waitState(creds.id, (v) => v.state === 'failed', 'failed');
    expect(d.reason).toBe('KEYDOC_ROLLBACK');
  }, 60_000);
});
