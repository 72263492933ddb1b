// Two server links on one real mosquitto (docs/scale-out.md): chunk requests and telemetry reach
// the fleet's instances through a shared subscription, so each request is answered exactly once
// and the work is spread; the devices' state (hello, online, report) is read by the leading
// instance alone, and a new leader receives the retained state the moment it takes over.
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeChunkResponse, deviceTopic, encodeChunkRequest, encodeReport } from '../protocol/index.js';
import { connectMqttLink, DEFAULT_SHARE_GROUP, type MqttLink } from '../server/link/mqtt.js';
import { defaultLimits } from '../server/limits/defaults.js';
import { DeviceRates } from '../server/limits/device-rates.js';
import { FileBlobStore } from '../server/store/blobs.js';
import { openDb } from '../server/store/db.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import { DeviceRepo } from '../server/store/devices.js';
import { DirectiveRepo } from '../server/store/directives.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch } from '../server/store/telemetry.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { tempDir, waitFor } from './helpers/server.js';

const log = pino({ level: 'silent' });

describe('two server links sharing one mosquitto', () => {
  let mosq: Mosquitto;
  let db: SqliteSql;
  let telemetry: TelemetryBatch;
  let devices: DeviceRepo;
  const links: MqttLink[] = [];
  /** Per link: chunk requests it served, and the device events it saw. */
  const served = [0, 0];
  const events: Array<Array<string>> = [[], []];
  let device: mqtt.MqttClient;

  beforeAll(async () => {
    mosq = await startMosquitto();
    const dir = tempDir();
    db = new SqliteSql(openDb(join(dir, 'wasmfleet.db')));
    telemetry = new TelemetryBatch(db, log, TELEMETRY_BATCH_DEFAULTS);
    devices = new DeviceRepo(db, telemetry);
    const directives = new DirectiveRepo(db);
    const blobs = new FileBlobStore(join(dir, 'blobs'));
    await devices.create([{ id: 'shared-1' }]);
    mosq.addUser('shared-1', 'device-secret');
    for (const i of [0, 1]) {
      const rates = new DeviceRates(defaultLimits(1 << 20), log);
      const allowChunk = rates.allowChunk.bind(rates);
      rates.allowChunk = (id, bytes) => {
        served[i]!++;
        return allowChunk(id, bytes);
      };
      links.push(
        await connectMqttLink(
          { url: `mqtt://127.0.0.1:${mosq.port}`, username: 'wasmfleet-server', password: 'server-secret', clientId: `link-${i}`, shareGroup: DEFAULT_SHARE_GROUP, leading: i === 0, log },
          { devices, directives, blobs, rates, log, changed: (id, why) => events[i]!.push(`${id}:${why}`) },
        ),
      );
    }
    device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: 'shared-1', username: 'shared-1', password: 'device-secret', reconnectPeriod: 0 });
  });

  afterAll(async () => {
    await device?.endAsync();
    for (const l of links) await l.close();
    await telemetry?.close();
    await db?.close();
    await mosq?.stop();
  });

  it('each chunk request is answered once, and both instances answer some', async () => {
    const answers: number[] = [];
    await device.subscribeAsync(deviceTopic('shared-1', 'chunk'), { qos: 0 });
    device.on('message', (topic, payload) => {
      if (topic === deviceTopic('shared-1', 'chunk')) answers.push(decodeChunkResponse(new Uint8Array(payload)).index);
    });
    const N = 40;
    for (let i = 0; i < N; i++) {
      await device.publishAsync(deviceTopic('shared-1', 'chunk/get'), Buffer.from(encodeChunkRequest({ sha256: new Uint8Array(32).fill(9), index: i, chunkSize: 1024 })), { qos: 1 });
    }
    await waitFor(`${N} answers`, () => answers.length >= N);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would have arrived by now
    expect(answers.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(served[0]! + served[1]!).toBe(N);
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
  });

  it("the device's state goes to the leader only; a new leader gets the retained report when it takes over", async () => {
    const report = (sequence: number) => Buffer.from(encodeReport({ state: 'idle', sequence, running: [], time: 1_700_000_000 + sequence }));
    for (let s = 1; s <= 5; s++) await device.publishAsync(deviceTopic('shared-1', 'report'), report(s), { qos: 1, retain: true });
    await waitFor('leader saw 5 reports', () => events[0]!.length === 5);
    expect((await devices.get('shared-1'))?.sequence).toBe(5);
    expect(events[1]).toEqual([]);

    // Leadership moves: the old leader stops reading state, the new one reads the retained report at once.
    await links[0]!.setLeading(false);
    await links[1]!.setLeading(true);
    await waitFor('new leader got the retained report', () => events[1]!.length === 1);
    await device.publishAsync(deviceTopic('shared-1', 'report'), report(6), { qos: 1, retain: true });
    await waitFor('new leader saw the next report', () => events[1]!.length === 2);
    expect((await devices.get('shared-1'))?.sequence).toBe(6);
    expect(events[0]).toHaveLength(5);
    expect(events[1]).toEqual(['shared-1:report', 'shared-1:report']);
  });
});
