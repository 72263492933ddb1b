// Per-release chunk fan-out (docs/protocol.md §5.2) against the real server: simulated devices
// stream an image from its image topic, the server publishing each chunk once for all of them;
// what a device lost it pulls with chunk/get; a late joiner gets what it missed when the carousel
// wraps; --no-fanout and a refused image send devices to pull. An observer subscribed inside the
// embedded broker counts every publish on the image topics and on the devices' chunk topics.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AedesPublishPacket } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { DeviceAgent, type AgentFaults } from '../device-sim/agent.js';
import { createEngine } from '../device-sim/engine/select.js';
import type { WasmEngine } from '../device-sim/engine/types.js';
import { Fleet } from '../device-sim/fleet.js';
import { fromHex, toHex } from '../protocol/crypto.js';
import { decodeChunkResponse, encodeChunkRequest, type ChunkResponse } from '../protocol/messages.js';
import { deviceTopic, imageTopic } from '../protocol/topics.js';
import { paddedCounter } from './device-fixture.js';
import { connectAs, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const CHUNK = 1024;

/** Every chunk publish the broker carries: on image topics, and answers on devices' own chunk topics. */
class Observer {
  readonly image: Array<{ topic: string; index: number }> = [];
  readonly answers: Array<{ device: string; index: number; error?: string }> = [];
  /** Hold each image-topic delivery this long (a slow subscriber: the carousel waits for the broker). */
  holdMs = 0;

  static async on(fleet: TestFleet): Promise<Observer> {
    const o = new Observer();
    const aedes = fleet.server.broker!.aedes;
    const sub = (filter: string, fn: (p: AedesPublishPacket, r: ChunkResponse) => void, hold = false) =>
      new Promise<void>((resolve) =>
        aedes.subscribe(
          filter,
          (packet, cb) => {
            fn(packet, decodeChunkResponse(new Uint8Array(packet.payload as Buffer)));
            if (hold && o.holdMs > 0) setTimeout(cb, o.holdMs);
            else cb();
          },
          () => resolve(),
        ),
      );
    await sub('wf/v1/img/#', (p, r) => o.image.push({ topic: p.topic, index: r.index }), true);
    await sub('wf/v1/dev/+/chunk', (p, r) => o.answers.push({ device: p.topic.split('/')[3], index: r.index, error: r.error }));
    return o;
  }

  answersTo(device: string): Array<{ index: number; error?: string }> {
    return this.answers.filter((a) => a.device === device);
  }

  onImage(topic: string): number[] {
    return this.image.filter((m) => m.topic === topic).map((m) => m.index);
  }
}

async function publishImage(fleet: TestFleet, name: string, bytes: number): Promise<{ sha256: string; size: number; chunks: number; topic: string }> {
  const file = join(fleet.dir, `${name}.wasm`);
  writeFileSync(file, await paddedCounter(bytes));
  const m = await publishModuleFile(fleet.api, file, { name, version: '1.0.0', tickMs: 100, stack: 16384, keysDir: fleet.keysDir });
  const sha = toHex(fromHex(m.sha256));
  return { sha256: sha, size: m.size, chunks: Math.ceil(m.size / CHUNK), topic: imageTopic(sha, CHUNK) };
}

/** `count` simulated devices tagged group=`group` that ask to stream their images (agent option fanout). */
function streamingFleet(fleet: TestFleet, count: number, group: string, agent: { chunkTimeoutMs?: number } = {}): Promise<Fleet> {
  return Fleet.start({
    server: fleet.server.httpUrl,
    token: fleet.server.operatorToken,
    devices: count,
    seed: group,
    tags: { group },
    stateDir: join(fleet.dir, group),
    workers: 1,
    agent: { chunkSize: CHUNK, probation: { ticks: 1 }, fanout: true, ...agent },
  });
}

/** One simulated device on its own, with faults of the test's choosing. */
async function bootDevice(fleet: TestFleet, engine: WasmEngine, id: string, faults?: AgentFaults): Promise<DeviceAgent> {
  const creds = await fleet.addDevice(id);
  const agent = new DeviceAgent({
    deviceId: id,
    mqttUrl: creds.mqttUrl,
    password: creds.password,
    rootPublicKey: fromHex(creds.rootPublicKey),
    stateDir: tempDir('wf-fanout-dev-'),
    engine,
    chunkSize: CHUNK,
    fanout: true,
    chunkTimeoutMs: 5000, // the stream idles out after 2.5 s: longer than the server's gather below
    probation: { ticks: 1 },
    reconnectPeriodMs: 200,
    faults,
  });
  await agent.start();
  await waitFor(`${id} online`, async () => (await fleet.api.get<{ online: boolean }>(`/v1/devices/${id}`)).online);
  return agent;
}

const committed = (fleet: TestFleet, id: string, timeoutMs = 30_000) =>
  waitFor(`${id} committed`, async () => (await fleet.api.get<{ state: string }>(`/v1/devices/${id}`)).state === 'committed', timeoutMs);

describe('chunk fan-out on the embedded server', () => {
  let fleet: TestFleet;
  let observer: Observer;
  let engine: WasmEngine;
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    // A one-second gather: the 24 devices of one deploy all ride the first cycle (the bound below).
    fleet = await startFleet({ fanout: { startDelayMs: 1000 } });
    observer = await Observer.on(fleet);
    engine = createEngine(undefined, { workers: 1 }).engine;
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await engine?.close();
    await fleet?.close();
  });

  it('24 devices commit; each chunk goes out on the image topic at most twice, and no device pulls', async () => {
    const DEVICES = 24;
    const img = await publishImage(fleet, 'wide', 12_000);
    // The stream idles out after 2.5 s: longer than the gather.
    const sim = await streamingFleet(fleet, DEVICES, 'wide', { chunkTimeoutMs: 5000 });
    try {
      await sim.waitFor('every device online', (s) => s.online === DEVICES, 60_000);
      await fleet.api.post('/v1/deployments', { module: 'wide', version: '1.0.0', tags: { group: 'wide' } });
      const s = await sim.waitFor('all committed', (x) => x.running['wide@1.0.0'] === DEVICES && x.inProgress === 0, 90_000);
      expect(s.states.committed).toBe(DEVICES);
      const published = observer.onImage(img.topic);
      console.log(`fan-out: ${DEVICES} devices, ${img.chunks} chunks: ${published.length} publishes on ${img.topic}`);
      expect(new Set(published).size).toBe(img.chunks);
      expect(published.length).toBeLessThanOrEqual(2 * img.chunks); // not devices × chunks
      for (const id of sim.ids) expect(observer.answersTo(id), id).toEqual([]);
    } finally {
      await sim.stop();
    }
  }, 150_000);

  it('a device that lost some streamed chunks pulls exactly those', async () => {
    const img = await publishImage(fleet, 'repair', 9_000);
    const drop = (lost: number[]): AgentFaults => ({ chunk: (r, via) => (via === 'stream' && lost.includes(r.index) ? null : r) });
    const a = await bootDevice(fleet, engine, 'fan-repair-a', drop([2, 5]));
    const b = await bootDevice(fleet, engine, 'fan-repair-b', drop([0]));
    const c = await bootDevice(fleet, engine, 'fan-repair-c');
    agents.push(a, b, c);
    await fleet.api.post('/v1/deployments', { module: 'repair', version: '1.0.0', devices: [a.id, b.id, c.id] });
    for (const id of [a.id, b.id, c.id]) await committed(fleet, id);
    expect(observer.onImage(img.topic).length).toBeGreaterThanOrEqual(img.chunks);
    expect(observer.answersTo(a.id).map((x) => x.index).sort()).toEqual([2, 5]);
    expect(observer.answersTo(b.id).map((x) => x.index)).toEqual([0]);
    expect(observer.answersTo(c.id)).toEqual([]);
    expect(observer.answers.filter((x) => x.error)).toEqual([]);
  }, 90_000);

  it('a late joiner gets the chunks it missed when the carousel wraps, without pulling', async () => {
    const img = await publishImage(fleet, 'late', 16_000);
    const early = await bootDevice(fleet, engine, 'fan-early');
    const late = await bootDevice(fleet, engine, 'fan-late');
    agents.push(early, late);
    observer.holdMs = 250; // a slow subscriber: 250 ms a batch of 4 chunks, so the late device joins mid-cycle
    try {
      await fleet.api.post('/v1/deployments', { module: 'late', version: '1.0.0', devices: [early.id] });
      await waitFor('the carousel past its first chunks', () => observer.onImage(img.topic).some((i) => i >= 4));
      await fleet.api.post('/v1/deployments', { module: 'late', version: '1.0.0', devices: [late.id] });
      await committed(fleet, early.id);
      await committed(fleet, late.id);
    } finally {
      observer.holdMs = 0;
    }
    const published = observer.onImage(img.topic);
    // Chunk 0 went out before the late device asked, and once more after it: the wrap.
    expect(published.filter((i) => i === 0).length).toBeGreaterThanOrEqual(2);
    expect(published.length).toBeLessThan(2 * img.chunks);
    expect(observer.answersTo(late.id)).toEqual([]);
    expect(observer.answersTo(early.id)).toEqual([]);
  }, 90_000);

  it('a device asking to stream an image not in its directives gets CHUNK_UNKNOWN_BLOB, and nothing is streamed', async () => {
    const img = await publishImage(fleet, 'secret', 3_000);
    const creds = await fleet.addDevice('fan-nosy');
    const nosy = await connectAs(creds);
    try {
      await nosy.subscribeAsync([deviceTopic(creds.id, 'chunk'), img.topic], { qos: 0 });
      const answer = new Promise<ChunkResponse>((resolve) => nosy.on('message', (t, p) => t === deviceTopic(creds.id, 'chunk') && resolve(decodeChunkResponse(new Uint8Array(p)))));
      const before = observer.image.length;
      nosy.publish(deviceTopic(creds.id, 'chunk/stream'), Buffer.from(encodeChunkRequest({ sha256: fromHex(img.sha256), index: 0, chunkSize: CHUNK })));
      expect(await answer).toMatchObject({ index: 0, error: 'CHUNK_UNKNOWN_BLOB' });
      await new Promise((r) => setTimeout(r, 1500)); // past the carousel's gather time
      expect(observer.image.slice(before).filter((m) => m.topic === img.topic)).toEqual([]);
    } finally {
      await nosy.endAsync();
    }
  });

  it('the embedded broker: a device reads exact image topics only, and cannot publish there', async () => {
    const img = await publishImage(fleet, 'acl', 2_000);
    const creds = await fleet.addDevice('fan-acl');
    const dev = await connectAs(creds);
    try {
      // A wildcard would read every stream of the fleet: SUBACK 0x80 (mqtt.js rejects).
      await expect(dev.subscribeAsync('wf/v1/img/#', { qos: 0 })).rejects.toThrow();
      await expect(dev.subscribeAsync('wf/v1/img/+/+', { qos: 0 })).rejects.toThrow();
      const ok = await dev.subscribeAsync(img.topic, { qos: 0 });
      expect(ok.map((g) => g.qos)).toEqual([0]);
      const before = observer.image.length;
      const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
      dev.publish(img.topic, Buffer.from(encodeChunkRequest({ sha256: fromHex(img.sha256), index: 0, chunkSize: CHUNK })), { qos: 0 });
      await closed; // the broker closes a device that publishes outside its rights
      expect(observer.image.slice(before)).toEqual([]);
    } finally {
      await dev.endAsync(true);
    }
    // Other devices are unaffected: one more streams an image to the end.
    const other = await bootDevice(fleet, engine, 'fan-acl-other');
    agents.push(other);
    await fleet.api.post('/v1/deployments', { module: 'acl', version: '1.0.0', devices: [other.id] });
    await committed(fleet, other.id);
    expect(observer.answersTo(other.id)).toEqual([]);
  }, 60_000);
});

describe('a server with --no-fanout', () => {
  let fleet: TestFleet;
  let observer: Observer;

  beforeAll(async () => {
    fleet = await startFleet({ fanout: false });
    observer = await Observer.on(fleet);
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('answers stream requests CHUNK_STREAM_OFF; devices pull and commit', async () => {
    const DEVICES = 4;
    const img = await publishImage(fleet, 'pulled', 5_000);
    const sim = await streamingFleet(fleet, DEVICES, 'nofan');
    try {
      await sim.waitFor('every device online', (s) => s.online === DEVICES, 60_000);
      await fleet.api.post('/v1/deployments', { module: 'pulled', version: '1.0.0', tags: { group: 'nofan' } });
      await sim.waitFor('all committed', (x) => x.running['pulled@1.0.0'] === DEVICES && x.inProgress === 0, 60_000);
      expect(observer.image).toEqual([]);
      for (const id of sim.ids) {
        const answers = observer.answersTo(id);
        expect(answers.filter((a) => a.error).map((a) => [a.index, a.error])).toEqual([[0, 'CHUNK_STREAM_OFF']]);
        expect(answers.filter((a) => !a.error).map((a) => a.index).sort((x, y) => x - y)).toEqual([...Array(img.chunks).keys()]);
      }
    } finally {
      await sim.stop();
    }
  }, 120_000);
});
