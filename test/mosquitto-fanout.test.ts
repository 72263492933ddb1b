// Chunk fan-out through an external mosquitto (docs/protocol.md §5.2, docs/security.md): with the
// ACL file the server generates and with the dynamic security plugin's roles, a simulated device
// subscribes to its release's exact image topic and takes the stream (no chunk pulled), and a
// device cannot publish on an image topic. What mosquitto cannot refuse, a wildcard filter over
// the image topics, is documented in docs/security.md and shown here too.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { fromHex, toHex } from '../protocol/crypto.js';
import { decodeChunkResponse } from '../protocol/messages.js';
import { imageTopic } from '../protocol/topics.js';
import { paddedCounter } from './device-fixture.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const CHUNK = 1024;

for (const mode of ['acl file', 'dynsec'] as const) {
  describe(`chunk fan-out through mosquitto (${mode})`, () => {
    let mosq: Mosquitto;
    let fleet: TestFleet;
    let engine: NodeEngine;
    let watcher: MqttClient;
    const seen: Array<{ topic: string; index: number; data: boolean; raw: string }> = [];
    const agents: DeviceAgent[] = [];

    beforeAll(async () => {
      mosq = await startMosquitto({ dynsec: mode === 'dynsec' });
      fleet = await startFleet({ brokerUrl: mosq.serverUrl, brokerDynsec: mode === 'dynsec' });
      engine = new NodeEngine({ workers: 1 });
      // A watcher with the server's credentials: every chunk on the image topics and on devices' chunk topics.
      watcher = await mqtt.connectAsync(mosq.serverUrl, { clientId: `watcher-${process.pid}`, reconnectPeriod: 0 });
      await watcher.subscribeAsync(['wf/v1/img/#', 'wf/v1/dev/+/chunk'], { qos: 0 });
      watcher.on('message', (topic, payload) => {
        let r: { index: number; data?: Uint8Array } = { index: -1 };
        try {
          r = decodeChunkResponse(new Uint8Array(payload));
        } catch {
          /* not a chunk response: kept as raw */
        }
        seen.push({ topic, index: r.index, data: Boolean(r.data), raw: payload.toString('latin1') });
      });
    });

    afterAll(async () => {
      for (const a of agents) await a.stop();
      await watcher?.endAsync();
      await engine?.close();
      await fleet?.close();
      await mosq?.stop();
    });

    const device = async (id: string) => {
      const creds = await fleet.addDevice(id);
      if (mode === 'acl file') mosq.addUser(creds.username, creds.password);
      return creds;
    };

    it('a device takes the stream from its exact image topic and pulls nothing; it cannot publish there', async () => {
      const file = join(fleet.dir, 'fan.wasm');
      writeFileSync(file, await paddedCounter(6_000));
      const m = await publishModuleFile(fleet.api, file, { name: 'fan', version: '1.0.0', tickMs: 100, stack: 16384, keysDir: fleet.keysDir });
      const topic = imageTopic(toHex(fromHex(m.sha256)), CHUNK);
      const chunks = Math.ceil(m.size / CHUNK);

      const creds = await device('mq-fan-1');
      const agent = new DeviceAgent({
        deviceId: creds.id,
        mqttUrl: `mqtt://127.0.0.1:${mosq.port}`,
        username: creds.username,
        password: creds.password,
        rootPublicKey: fromHex(creds.rootPublicKey),
        stateDir: tempDir('wf-mq-fan-'),
        engine,
        chunkSize: CHUNK,
        fanout: true,
        chunkTimeoutMs: 5000,
        probation: { ticks: 1 },
        reconnectPeriodMs: 200,
      });
      agents.push(agent);
      await agent.start();
      await waitFor('online', async () => (await fleet.api.get<{ online: boolean }>(`/v1/devices/${creds.id}`)).online, 30_000);
      await fleet.api.post('/v1/deployments', { module: 'fan', version: '1.0.0', devices: [creds.id] });
      await waitFor('committed', async () => (await fleet.api.get<{ state: string }>(`/v1/devices/${creds.id}`)).state === 'committed', 30_000);
      expect(new Set(seen.filter((s) => s.topic === topic && s.data).map((s) => s.index)).size).toBe(chunks);
      expect(seen.filter((s) => s.topic === `wf/v1/dev/${creds.id}/chunk`)).toEqual([]);

      // Another device publishes on the image topic: mosquitto drops it, nobody reads it.
      const other = await device('mq-fan-2');
      const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: other.id, username: other.username, password: other.password, reconnectPeriod: 0 });
      try {
        expect((await dev.subscribeAsync(topic, { qos: 0 })).map((g) => g.qos)).toEqual([0]); // exact topic: granted
        await dev.publishAsync(topic, Buffer.from('forged chunk'), { qos: 1 }).catch(() => {});
        await dev.publishAsync(`wf/v1/dev/${other.id}/telemetry`, Buffer.from('x'), { qos: 1 }); // a round trip later
        await new Promise((r) => setTimeout(r, 300));
        expect(seen.filter((s) => s.raw === 'forged chunk')).toEqual([]);
      } finally {
        await dev.endAsync();
      }
    }, 60_000);

    it(mode === 'dynsec' ? 'dynsec refuses wf/v1/img/# (a wildcard over the image level pattern is granted: docs/security.md)' : 'the ACL file cannot refuse a wildcard filter: it only filters what is delivered (docs/security.md)', async () => {
      const creds = await device('mq-fan-3');
      const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: creds.id, username: creds.username, password: creds.password, reconnectPeriod: 0 });
      try {
        const wide = dev.subscribeAsync('wf/v1/img/#', { qos: 0 }).then(
          (g) => g.map((x) => x.qos),
          () => 'refused',
        );
        if (mode === 'dynsec') expect(await wide).toBe('refused');
        else expect(await wide).toEqual([0]);
      } finally {
        await dev.endAsync();
      }
    });
  });
}
