// Issue 9, finding 2, with real mqtt clients against the real embedded broker: packets are bounded
// before they are buffered, retained publishes only where the protocol retains, a flooding device
// is throttled while another updates normally, failed logins are logged and throttled; failed API
// authentication too.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { loadModuleFile } from '../cli/wat.js';
import { deviceTopic, encodeChunkRequest, encodeTelemetry, fromHex } from '../protocol/index.js';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { captureLog, type CapturedLog } from './helpers/log-capture.js';
import { connectAs, EXAMPLES, startFleet, waitFor, type TestFleet } from './helpers/server.js';

/** MQTT remaining length (§2.2.3). */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** Announce a retained QoS 0 PUBLISH of `total` bytes on the client's own socket and stream zeros into it. */
async function announceHugePublish(client: MqttClient, topic: string, total: number): Promise<number> {
  const stream = client.stream as unknown as Duplex;
  const t = Buffer.from(topic);
  stream.write(Buffer.concat([Buffer.from([0x31]), varint(2 + t.length + total), Buffer.from([t.length >> 8, t.length & 0xff]), t]));
  const chunk = Buffer.alloc(64 * 1024); // one buffer, reused: the client side holds no 64 MiB
  let sent = 0;
  while (sent < total && !stream.destroyed && stream.writable) {
    sent += chunk.length;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    }
  }
  return sent;
}

const closed = (c: MqttClient) => new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));

describe('embedded broker: bounds and rates with default limits', () => {
  let fleet: TestFleet;
  let cap: CapturedLog;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    cap = captureLog('warn');
    fleet = await startFleet({ log: cap.log });
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await fleet?.close();
  });

  it('a 64 MiB retained publish is refused when announced: the connection drops and the server RSS does not grow by it', async () => {
    const creds = await fleet.addDevice('big-1');
    const client = await connectAs(creds);
    clients.push(client);
    const rssBefore = process.memoryUsage().rss;
    const gone = closed(client);
    const sent = await announceHugePublish(client, deviceTopic(creds.id, 'hello'), 64 * 1024 * 1024);
    await gone;
    const grown = process.memoryUsage().rss - rssBefore;
    console.log(`oversized publish: ${(sent / 1048576).toFixed(1)} MiB written before the broker dropped the connection; server RSS +${(grown / 1048576).toFixed(1)} MiB`);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(grown).toBeLessThan(24 * 1024 * 1024);
    expect(cap.count('mqtt: packet over the connection limit, connection dropped before reading it')).toBe(1);
    // The device itself is not banned: a well-formed hello goes through after reconnecting.
    const again = await connectAs(creds);
    clients.push(again);
    expect(again.connected).toBe(true);
  });

  it('a payload over its topic bound (2 KiB telemetry; the bound is 1 KiB) closes the connection and is not stored', async () => {
    const creds = await fleet.addDevice('big-2');
    const client = await connectAs(creds);
    clients.push(client);
    const gone = closed(client);
    client.publish(deviceTopic(creds.id, 'telemetry'), Buffer.alloc(2048), { qos: 0 });
    await gone;
    expect(cap.count('mqtt: publish refused: payload over the topic bound of 1024 bytes')).toBe(1);
  });

  it('a retained publish on a topic the protocol does not retain (telemetry) is dropped, and never reaches the server', async () => {
    const creds = await fleet.addDevice('ret-1');
    const client = await connectAs(creds);
    clients.push(client);
    const gone = closed(client);
    client.publish(deviceTopic(creds.id, 'telemetry'), Buffer.from(encodeTelemetry({ name: 'temp', value: 21, time: 1 })), { qos: 1, retain: true });
    await gone;
    expect(cap.count('mqtt: publish refused: retained publish on a topic that is not retained')).toBe(1);
    // Not-retained telemetry from the same device is recorded, so the refused one would have been seen.
    const ok = await connectAs(creds);
    clients.push(ok);
    await ok.publishAsync(deviceTopic(creds.id, 'telemetry'), Buffer.from(encodeTelemetry({ name: 'hum', value: 40, time: 2 })), { qos: 1 });
    const d = await waitFor('telemetry', async () => {
      const v = await fleet.api.get<{ telemetry: Array<{ name: string; value: number }> }>(`/v1/devices/${creds.id}`);
      return v.telemetry.length > 0 && v;
    });
    expect(d.telemetry).toEqual([expect.objectContaining({ name: 'hum', value: 40 })]);
  });

  it('a device flooding chunk requests is throttled while another device does a full update at its own pace', async () => {
    // A 256 KiB module: a real multi-chunk download (256 chunks of 1 KiB) for the honest device.
    const wasm = Buffer.concat([Buffer.from(await loadModuleFile(join(EXAMPLES, 'counter.wat'))), Buffer.from([0]), varint(4 + 256 * 1024), Buffer.from([3]), Buffer.from('pad'), randomBytes(256 * 1024)]);
    const file = join(fleet.dir, 'padded.wasm');
    writeFileSync(file, wasm);
    const published = await publishModuleFile(fleet.api, file, { name: 'padded', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: fleet.keysDir });
    const flooderCreds = await fleet.addDevice('flood-1');
    const honestCreds = await fleet.addDevice('honest-1');
    await fleet.api.post('/v1/deployments', { module: 'padded', version: '1.0.0', devices: ['flood-1'] });

    const flooder = await connectAs(flooderCreds);
    clients.push(flooder);
    let answered = 0;
    flooder.on('message', () => answered++);
    await flooder.subscribeAsync(deviceTopic('flood-1', 'chunk'), { qos: 0 });
    const engine = new NodeEngine({ workers: 1 });
    const honest = new DeviceAgent({
      deviceId: 'honest-1',
      mqttUrl: honestCreds.mqttUrl,
      password: honestCreds.password,
      rootPublicKey: fromHex(honestCreds.rootPublicKey),
      stateDir: join(fleet.dir, 'honest-1'),
      engine,
      chunkSize: 1024,
      probation: { ticks: 1 },
    });
    await honest.start();
    try {
      await fleet.api.post('/v1/deployments', { module: 'padded', version: '1.0.0', devices: ['honest-1'] });
      const request = Buffer.from(encodeChunkRequest({ sha256: fromHex(published.sha256), index: 0, chunkSize: 65536 }));
      const FLOOD = 3000;
      for (let i = 0; i < FLOOD; i++) flooder.publish(deviceTopic('flood-1', 'chunk/get'), request, { qos: 0 });
      await waitFor(
        'honest device committed',
        async () => (await fleet.api.get<{ state: string; running: Array<{ version: string }> }>('/v1/devices/honest-1')).state === 'committed',
        60_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      console.log(`flooding device: ${answered} of ${FLOOD} chunk requests answered`);
      // 2 × 4 MiB of chunk budget = 128 answers of 64 KiB, then 16 per second.
      expect(answered).toBeGreaterThan(0);
      expect(answered).toBeLessThan(FLOOD / 4);
      expect(cap.lines.some((l) => l.msg === 'device over its rate limit: messages dropped' && l.device === 'flood-1')).toBe(true);
      expect(cap.lines.some((l) => l.msg === 'device over its rate limit: messages dropped' && l.device === 'honest-1')).toBe(false);
    } finally {
      await honest.stop();
      await engine.close();
    }
  });
});

describe('failed logins and API authentication are logged and throttled', () => {
  let fleet: TestFleet;
  let cap: CapturedLog;
  beforeAll(async () => {
    cap = captureLog('warn');
    fleet = await startFleet({
      log: cap.log,
      limits: { mqttFailedLogins: { capacity: 5, perSecond: 0.001 }, mqttConnects: { capacity: 3, perSecond: 0.001 }, apiFailedAuth: { capacity: 3, perSecond: 0.001 } },
    });
  });
  afterAll(async () => fleet?.close());

  const tryConnect = (username: string, password: string, clientId = username) =>
    mqtt.connectAsync(fleet.server.mqttUrl, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 5000 }).then(
      async (c) => {
        await c.endAsync(true);
        return 'ok';
      },
      (err: Error & { code?: number }) => `refused ${err.code ?? err.message}`,
    );

  it('connects per device are rate-limited (CONNACK 3 once the bucket is spent)', async () => {
    const creds = await fleet.addDevice('reconnector');
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await tryConnect(creds.username, creds.password));
    expect(results).toEqual(['ok', 'ok', 'ok', 'refused 3', 'refused 3']);
    expect(cap.lines.filter((l) => l.msg === 'mqtt: connect rate exceeded')).toHaveLength(1); // once per interval
  });

  it('a wrong password as the server user is logged; repeated failures from one address are throttled, then refused', async () => {
    await fleet.addDevice('victim');
    expect(await tryConnect('wasmfleet-server', 'guess', 'wasmfleet-server-x')).toBe('refused 4');
    expect(cap.lines.find((l) => l.msg === 'mqtt: refused server credentials')).toMatchObject({ username: 'wasmfleet-server', from: '127.0.0.1' });
    for (let i = 0; i < 6; i++) await tryConnect('victim', `guess-${i}`);
    expect(cap.lines.filter((l) => l.msg === 'mqtt: refused device credentials')).toHaveLength(1); // one line, the rest counted
    expect(cap.lines.find((l) => l.msg === 'mqtt: login refused: too many failed logins from this address')).toMatchObject({ from: '127.0.0.1' });
  });

  it('failed API authentication is logged and, after 3 failures, the address gets 429 AUTH_THROTTLED even with a good token', async () => {
    const call = (token: string) => fetch(`${fleet.server.httpUrl}/v1/devices`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) expect((await call(`wrong-${i}`)).status).toBe(401);
    const throttled = await call(fleet.server.operatorToken);
    expect(throttled.status).toBe(429);
    expect(((await throttled.json()) as { error: { code: string } }).error.code).toBe('AUTH_THROTTLED');
    expect(cap.lines.filter((l) => l.msg === 'api: authentication failed')).toHaveLength(1);
    expect(cap.lines.find((l) => l.msg === 'api: authentication failed')).toMatchObject({ from: '127.0.0.1', sent: 'unknown or revoked token' });
  });
});
