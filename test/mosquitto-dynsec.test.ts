// External mosquitto with its dynamic security plugin (docs/security.md, "external brokers"):
// the server (--broker-dynsec, its link user the plugin's admin) creates, revokes and rotates
// device clients itself. Nothing is added to the broker by hand: a device added through the CLI's
// code path connects with its password and takes a deploy; revocation and rotation reach mosquitto
// (which drops the old connection); a device cannot publish into another device's subtree.
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeviceWithCredentials, rotateDeviceCredentials } from '../cli/commands/device-credentials.js';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { deviceTopic } from '../protocol/topics.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { deployCounterUntilCommitted, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';
import { WfError } from '../protocol/errors.js';

describe('external mosquitto with the dynamic security plugin', () => {
  let mosq: Mosquitto;
  let fleet: TestFleet;
  let engine: NodeEngine;
  const agents: DeviceAgent[] = [];

  const tryConnect = (username: string, password: string, clientId = username) =>
    mqtt
      .connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 5000 })
      .then(async (c) => {
        await c.endAsync();
        return 'connected';
      })
      .catch((err: Error) => `refused: ${err.message}`);

  beforeAll(async () => {
    mosq = await startMosquitto({ dynsec: true });
    fleet = await startFleet({ brokerUrl: mosq.serverUrl, brokerDynsec: true });
    engine = new NodeEngine({ workers: 1 });
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await engine?.close();
    await fleet?.close();
    await mosq?.stop();
  });

  it('a device added through the CLI connects to mosquitto with its password and takes a deploy', async () => {
    const dir = tempDir();
    const creds = await addDeviceWithCredentials(fleet.api, 'dyn-1', { tags: {}, outDir: dir });
    expect(creds.password).toBeTruthy();
    // the client id is pinned to the device id
    expect(await tryConnect('dyn-1', creds.password!, 'someone-else')).toMatch(/refused/);
    const agent = new DeviceAgent({
      deviceId: creds.id,
      mqttUrl: `mqtt://127.0.0.1:${mosq.port}`,
      username: creds.username,
      password: creds.password,
      rootPublicKey: new Uint8Array(Buffer.from(creds.rootPublicKey, 'hex')),
      stateDir: join(dir, 'state'),
      engine,
      reconnectPeriodMs: 200,
    });
    agents.push(agent);
    await agent.start();
    const d = await deployCounterUntilCommitted<{ state: string; online: boolean; running: Array<{ version: string }> }>(fleet, 'dyn-1');
    expect(d.running[0]?.version).toBe('1.0.0');

    // revoked: mosquitto drops the connection and refuses the password from then on
    await fleet.api.post('/v1/devices/dyn-1/revoke', {});
    await waitFor('dropped by mosquitto', async () => !agent.status().connected);
    expect(await tryConnect('dyn-1', creds.password!)).toMatch(/refused/);
  }, 60_000);

  it('rotate-credentials: the old password fails, the new one works', async () => {
    const dir = tempDir();
    const first = await addDeviceWithCredentials(fleet.api, 'dyn-2', { tags: {}, outDir: dir });
    expect(await tryConnect('dyn-2', first.password!)).toBe('connected');
    const open = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: 'dyn-2', username: 'dyn-2', password: first.password!, reconnectPeriod: 0 });
    const second = await rotateDeviceCredentials(fleet.api, 'dyn-2', { outDir: dir });
    // the connection made with the old password is dropped by mosquitto too
    await waitFor('old-password connection dropped', async () => !open.connected);
    await open.endAsync();
    expect(second.password).not.toBe(first.password);
    expect(await tryConnect('dyn-2', first.password!)).toMatch(/refused/);
    expect(await tryConnect('dyn-2', second.password!)).toBe('connected');
  }, 30_000);

  it("a device cannot publish into another device's subtree, nor subscribe to it", async () => {
    const dir = tempDir();
    const a = await addDeviceWithCredentials(fleet.api, 'dyn-a', { tags: {}, outDir: dir });
    await addDeviceWithCredentials(fleet.api, 'dyn-b', { tags: {}, outDir: dir });
    // a watcher with the server's rights sees what reaches dyn-b's report topic
    const seen: string[] = [];
    const watcher = await mqtt.connectAsync(mosq.serverUrl, { clientId: 'watcher', reconnectPeriod: 0 });
    await watcher.subscribeAsync([deviceTopic('dyn-a', 'telemetry'), deviceTopic('dyn-b', 'telemetry')], { qos: 1 });
    watcher.on('message', (t) => seen.push(t));

    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: 'dyn-a', username: 'dyn-a', password: a.password!, reconnectPeriod: 0, protocolVersion: 5 });
    await expect(dev.subscribeAsync(deviceTopic('dyn-b', 'directive'), { qos: 1 })).rejects.toThrow(/Not authorized/);
    expect(await dev.subscribeAsync(deviceTopic('dyn-a', 'directive'), { qos: 1 })).toHaveLength(1); // its own: granted
    await dev.publishAsync(deviceTopic('dyn-b', 'telemetry'), Buffer.from('forged'), { qos: 1 }).catch(() => {});
    await dev.publishAsync(deviceTopic('dyn-a', 'telemetry'), Buffer.from('own'), { qos: 1 }); // positive control
    await waitFor('own telemetry through', async () => seen.includes(deviceTopic('dyn-a', 'telemetry')));
    expect(seen).not.toContain(deviceTopic('dyn-b', 'telemetry'));
    await dev.endAsync();
    await watcher.endAsync();
  }, 30_000);

  it('devices added in a batch (as wasmfleet sim provisions them) can all log in', async () => {
    const { devices } = await fleet.api.post<{ devices: Array<{ id: string; password: string }> }>('/v1/devices/batch', {
      devices: [{ id: 'dyn-batch-1' }, { id: 'dyn-batch-2' }, { id: 'dyn-batch-3' }],
    });
    expect(devices).toHaveLength(3);
    for (const d of devices) expect(await tryConnect(d.id, d.password)).toBe('connected');
    expect(await tryConnect('dyn-batch-1', devices[1]!.password)).toMatch(/refused/); // each its own password
  }, 30_000);

  it('a batch bigger than one control message (120 devices, 50 a message) reaches the broker whole', async () => {
    const { devices } = await fleet.api.post<{ devices: Array<{ id: string; password: string }> }>('/v1/devices/batch', {
      devices: Array.from({ length: 120 }, (_, i) => ({ id: `dyn-big-${i}` })),
    });
    for (const i of [0, 49, 50, 99, 100, 119]) expect(await tryConnect(devices[i]!.id, devices[i]!.password)).toBe('connected');
  }, 30_000);

  it('a second server on the same broker finds its role in place and the first keeps its link', async () => {
    const second = await startFleet({ brokerUrl: mosq.serverUrl, brokerDynsec: true });
    try {
      const c = await addDeviceWithCredentials(second.api, 'dyn-second', { tags: {}, outDir: tempDir() });
      expect(await tryConnect('dyn-second', c.password!)).toBe('connected');
      // the first server still manages the broker (its link was not dropped by the second's start)
      const d = await addDeviceWithCredentials(fleet.api, 'dyn-first', { tags: {}, outDir: tempDir() });
      expect(await tryConnect('dyn-first', d.password!)).toBe('connected');
    } finally {
      await second.close();
    }
  }, 30_000);

  it('two servers started at the same moment on a fresh broker both end up managing it (no fight over the server role)', async () => {
    const fresh = await startMosquitto({ dynsec: true });
    const starting = await Promise.allSettled([startFleet({ brokerUrl: fresh.serverUrl, brokerDynsec: true }), startFleet({ brokerUrl: fresh.serverUrl, brokerDynsec: true })]);
    const started = starting.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(starting.map((r) => (r.status === 'rejected' ? String(r.reason) : 'started'))).toEqual(['started', 'started']);
      const login = (id: string, password: string) =>
        mqtt
          .connectAsync(`mqtt://127.0.0.1:${fresh.port}`, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 5000 })
          .then(async (c) => (await c.endAsync(), 'connected'))
          .catch((err: Error) => `refused: ${err.message}`);
      for (const [i, f] of started.entries()) {
        const c = await addDeviceWithCredentials(f.api, `dyn-race-${i}`, { tags: {}, outDir: tempDir() });
        expect(await login(c.id, c.password!)).toBe('connected');
      }
    } finally {
      for (const f of started) await f.close().catch(() => {});
      await fresh.stop();
    }
  }, 60_000);

  it('--broker-dynsec against a mosquitto without the plugin stops at start with BROKER_CREDENTIALS_FAILED', async () => {
    const plain = await startMosquitto();
    try {
      const err = await startFleet({ brokerUrl: plain.serverUrl, brokerDynsec: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WfError);
      expect((err as WfError).code).toBe('BROKER_CREDENTIALS_FAILED');
      expect((err as WfError).message).toMatch(/no answer from the dynamic security plugin/);
      // without the flag the same broker serves as before (password file + ACL file)
      const ok = await startFleet({ brokerUrl: plain.serverUrl });
      await ok.close();
    } finally {
      await plain.stop();
    }
  }, 30_000);
});
