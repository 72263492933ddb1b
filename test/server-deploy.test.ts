// publish → deploy → a raw MQTT client holding device credentials receives a directive that
// verifies against the key document, fetches every chunk and reassembles the exact module bytes.
// Once on the embedded aedes broker, once on a real external mosquitto.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModuleFile } from '../cli/wat.js';
import {
  checkBundle,
  checkFreshness,
  FRESHNESS_TOPIC,
  decodeChunkResponse,
  deviceTopic,
  encodeChunkRequest,
  fromHex,
  toHex,
} from '../protocol/index.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { connectAs, nextMessage, startFleet, type DeviceCredentials, type TestFleet, deviceContext } from './helpers/server.js';

/** A module with a 6 KB data segment, so it spans many chunks. */
function bigModuleWat(): string {
  const filler = 'wasmfleet-'.repeat(600);
  return `(module (memory (export "memory") 1 1) (data (i32.const 0) "${filler}")
    (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 0)))`;
}

async function fetchImage(client: MqttClient, id: string, sha256: Uint8Array, size: number, chunkSize: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const count = Math.ceil(size / chunkSize);
  const chunkTopic = deviceTopic(id, 'chunk');
  await client.subscribeAsync(chunkTopic, { qos: 0 });
  for (let index = 0; index < count; index++) {
    const reply = new Promise<Uint8Array>((resolve) => {
      const onMessage = (t: string, p: Buffer) => {
        if (t !== chunkTopic) return;
        client.off('message', onMessage);
        resolve(new Uint8Array(p));
      };
      client.on('message', onMessage);
    });
    client.publish(deviceTopic(id, 'chunk/get'), Buffer.from(encodeChunkRequest({ sha256, index, chunkSize })), { qos: 0 });
    const res = decodeChunkResponse(await reply);
    expect(res.error).toBeUndefined();
    expect(res.index).toBe(index);
    parts.push(res.data!);
  }
  return new Uint8Array(Buffer.concat(parts));
}

async function deployAndFetch(fleet: TestFleet, creds: DeviceCredentials) {
  const wasmPath = join(fleet.dir, 'big.wat');
  writeFileSync(wasmPath, bigModuleWat());
  const expected = await loadModuleFile(wasmPath);
  const { publishModuleFile } = await import('../cli/commands/module-publish.js');
  const published = await publishModuleFile(fleet.api, wasmPath, { name: 'big', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: fleet.keysDir });
  expect(published.size).toBe(expected.length);

  const client = await connectAs(creds);
  try {
    const directiveMsg = nextMessage(client, deviceTopic(creds.id, 'directive'));
    const deployed = await fleet.api.post<{ devices: Array<{ id: string; sequence: number }> }>('/v1/deployments', { module: 'big', version: '1.0.0', devices: [creds.id] });
    expect(deployed.devices).toEqual([{ id: creds.id, sequence: 1 }]);

    const checked = checkBundle(await directiveMsg, deviceContext(creds));
    expect(checked.directive.sequence).toBe(1);
    const release = checked.releases[0];
    expect(release.manifest.version).toBe('1.0.0');
    expect(toHex(release.manifest.image.sha256)).toBe(published.sha256);

    const image = await fetchImage(client, creds.id, release.manifest.image.sha256, release.manifest.image.size, 256);
    expect(image.length).toBeGreaterThan(20 * 256);
    expect(Buffer.from(image).equals(Buffer.from(expected))).toBe(true);
  } finally {
    await client.endAsync();
  }
}

describe('publish → deploy → fetch, embedded aedes', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startFleet();
  });
  afterAll(async () => fleet?.close());

  it('a device receives a verifiable directive and reassembles the exact module', async () => {
    await deployAndFetch(fleet, await fleet.addDevice('aedes-dev-1'));
  });

  it('devices fetching one image in several chunk sizes, again and again, each reassemble the exact module (answers are cached per chunk size and index)', async () => {
    const a = await fleet.addDevice('cache-dev-a');
    const b = await fleet.addDevice('cache-dev-b');
    const wasmPath = join(fleet.dir, 'cached.wat');
    writeFileSync(wasmPath, bigModuleWat());
    const expected = Buffer.from(await loadModuleFile(wasmPath));
    const { publishModuleFile } = await import('../cli/commands/module-publish.js');
    const published = await publishModuleFile(fleet.api, wasmPath, { name: 'cached', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: fleet.keysDir });
    await fleet.api.post('/v1/deployments', { module: 'cached', version: '1.0.0', devices: [a.id, b.id] });
    const sha256 = fromHex(published.sha256);
    const clients = [await connectAs(a), await connectAs(b)];
    try {
      // 256 and 512 share chunk boundaries, 1000 does not; the same size twice is answered from the cache.
      for (const [i, chunkSize] of [256, 512, 1000, 256, 1000].entries()) {
        const creds = i % 2 === 0 ? a : b;
        const image = await fetchImage(clients[i % 2], creds.id, sha256, published.size, chunkSize);
        expect(Buffer.from(image).equals(expected)).toBe(true);
      }
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
    }
  });

  it('a device reaches the broker over WebSocket too', async () => {
    const creds = await fleet.addDevice('ws-dev-1');
    const client = await connectAs({ ...creds, mqttUrl: fleet.server.wsUrl! });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('the retained directive survives a server restart (republished from SQLite)', async () => {
    const creds = await fleet.addDevice('restart-dev-1');
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [creds.id] });
    await fleet.restart();
    const client = await connectAs({ ...creds, mqttUrl: fleet.server.mqttUrl });
    const bundle = await nextMessage(client, deviceTopic(creds.id, 'directive'));
    const checked = checkBundle(bundle, deviceContext(creds));
    expect(checked.releases[0].manifest.component).toBe('counter');
    await client.endAsync();
  });
});

describe('publish → deploy → fetch, external mosquitto', () => {
  let mosq: Mosquitto;
  let fleet: TestFleet;
  beforeAll(async () => {
    mosq = await startMosquitto();
    fleet = await startFleet({ brokerUrl: mosq.serverUrl });
  });
  afterAll(async () => {
    await fleet?.close();
    await mosq?.stop();
  });

  it('a device on mosquitto receives a verifiable directive and reassembles the exact module', async () => {
    const creds = await fleet.addDevice('mosq-dev-1');
    expect(creds.mqttUrl).toBe(`mqtt://127.0.0.1:${mosq.port}`);
    mosq.addUser(creds.username, creds.password);
    await new Promise((r) => setTimeout(r, 200)); // mosquitto reloads its password file on SIGHUP
    await deployAndFetch(fleet, creds);
  });

  it("mosquitto's ACL (generated by us) keeps a device out of another device's topics", async () => {
    const a = await fleet.addDevice('mosq-dev-a');
    mosq.addUser(a.username, a.password);
    await new Promise((r) => setTimeout(r, 200));
    const client = await connectAs(a);
    const seen: string[] = [];
    client.on('message', (topic) => seen.push(topic));
    // mosquitto grants the subscription but the ACL withholds mosq-dev-1's retained directive.
    await client.subscribeAsync(deviceTopic('mosq-dev-1', 'directive'), { qos: 1 });
    // Positive control: the device's own directive does arrive, after the other one would have.
    const own = nextMessage(client, deviceTopic(a.id, 'directive'));
    await fleet.api.post('/v1/deployments', { module: 'big', version: '1.0.0', devices: [a.id] });
    await own;
    expect(seen).toEqual([deviceTopic(a.id, 'directive')]);
    await client.endAsync();
  });

  it("mosquitto's ACL lets a device read the fleet's freshness statement and not replace it", async () => {
    const creds = await fleet.addDevice('mosq-fresh');
    mosq.addUser(creds.username, creds.password);
    await new Promise((r) => setTimeout(r, 200));
    const client = await connectAs(creds);
    const first = await nextMessage(client, FRESHNESS_TOPIC);
    const checked = checkFreshness(first, { rootPublicKey: fromHex(creds.rootPublicKey), keydocSerial: 1, now: Math.floor(Date.now() / 1000) });
    expect(checked.statement.expires).toBeGreaterThan(checked.statement.issuedAt);
    // mosquitto accepts the PUBLISH from a device but the ACL drops it: the retained statement stays the server's.
    await client.publishAsync(FRESHNESS_TOPIC, Buffer.from([0xa0]), { qos: 1, retain: true });
    await client.endAsync();
    const reader = await connectAs(creds);
    const again = await nextMessage(reader, FRESHNESS_TOPIC);
    await reader.endAsync();
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
  });
});
