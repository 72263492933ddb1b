// The server's in-process link to the embedded aedes: every device topic kind reaches its handler
// without a TCP connection of the server's own, and no broker-side fault (a client's protocol
// error, a handler that throws, an aedes 'error' event, a long queue on the message bus) stops
// the link or the operator API.
import { connect as tcpConnect } from 'node:net';
import mqemitter from 'mqemitter';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeChunkResponse, deviceTopic, encodeChunkRequest, encodeHello, encodeOnline, encodeReport, encodeTelemetry } from '../protocol/index.js';
import { createBrokerMq } from '../server/broker/mq.js';
import { IndexedMemoryPersistence } from '../server/broker/persistence.js';
import { DeviceRepo } from '../server/store/devices.js';
import { connectAs, startFleet, waitFor, type DeviceCredentials, type TestFleet } from './helpers/server.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startFleet();
});
afterAll(async () => fleet?.close());
afterEach(() => vi.restoreAllMocks());

interface DeviceDetail {
  online: boolean;
  hello: { agent: string } | null;
  state: string;
  sequence: number;
  telemetry: Array<{ name: string; value: number }>;
}
const detail = (id: string) => fleet.api.get<DeviceDetail>(`/v1/devices/${id}`);
const telemetryValue = async (id: string, name: string) => (await detail(id)).telemetry.find((t) => t.name === name)?.value;

async function sendTelemetry(creds: DeviceCredentials, name: string, value: number): Promise<void> {
  const c = await connectAs(creds);
  await c.publishAsync(deviceTopic(creds.id, 'telemetry'), Buffer.from(encodeTelemetry({ name, value, time: 1_700_000_000 })), { qos: 1 });
  await c.endAsync();
}

describe('in-process link to the embedded aedes', () => {
  it('delivers every device topic kind to its handler, with no MQTT client of the server on the broker', async () => {
    const creds = await fleet.addDevice('link-kinds');
    const c = await connectAs(creds);
    // Only the device is a client of the broker: the server is subscribed in-process.
    expect(fleet.server.broker?.aedes.connectedClients).toBe(1);

    const pub = (kind: Parameters<typeof deviceTopic>[1], bytes: Uint8Array) => c.publishAsync(deviceTopic(creds.id, kind), Buffer.from(bytes), { qos: 1 });
    await pub('hello', encodeHello({ host: 'v8', abi: 1, capabilities: [], maxChunk: 4096, memory: 65536, agent: 'link-test/1' }));
    await pub('online', encodeOnline(true));
    await pub('report', encodeReport({ state: 'idle', sequence: 0, running: [], time: 1_700_000_000 }));
    await pub('telemetry', encodeTelemetry({ name: 'temp', value: 21.5, time: 1_700_000_000 }));
    await c.subscribeAsync(deviceTopic(creds.id, 'chunk'), { qos: 0 });
    const chunk = new Promise<Uint8Array>((resolve) => c.once('message', (_t, p) => resolve(new Uint8Array(p))));
    await pub('chunk/get', encodeChunkRequest({ sha256: new Uint8Array(32).fill(7), index: 0, chunkSize: 4096 }));

    expect(decodeChunkResponse(await chunk).error).toBe('CHUNK_UNKNOWN_BLOB');
    const d = await waitFor('hello, online, report and telemetry recorded', async () => {
      const v = await detail(creds.id);
      return v.online && v.hello?.agent === 'link-test/1' && v.state === 'idle' && v.telemetry.some((t) => t.name === 'temp' && t.value === 21.5) && v;
    });
    expect(d).toMatchObject({ online: true, state: 'idle', hello: { agent: 'link-test/1' } });
    await c.endAsync();
  });

  it('survives broker-side client errors: garbage on the socket, a publish outside the subtree, a malformed message', async () => {
    const a = await fleet.addDevice('link-err-a');
    const b = await fleet.addDevice('link-err-b');
    // 1. Not MQTT at all: aedes drops that connection.
    const raw = tcpConnect(fleet.server.broker!.mqttPort, '127.0.0.1');
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]));
    await new Promise<void>((resolve) => raw.once('close', () => resolve()));
    // 2. A device publishing into another device's subtree: refused, its connection closed.
    const ca = await connectAs(a);
    const closed = new Promise<void>((resolve) => ca.once('close', () => resolve()));
    ca.publish(deviceTopic(b.id, 'telemetry'), Buffer.from(encodeTelemetry({ name: 'spoof', value: 1, time: 1 })), { qos: 0 });
    await closed;
    ca.end(true);
    // 3. Malformed CBOR on its own topic: the handler refuses it (logged), the link carries on.
    const cb = await connectAs(b);
    await cb.publishAsync(deviceTopic(b.id, 'telemetry'), Buffer.from([0xa1, 0x01]), { qos: 1 });
    await cb.endAsync();

    await sendTelemetry(b, 'after-errors', 3);
    expect(await waitFor('telemetry after the errors', () => telemetryValue(b.id, 'after-errors'))).toBe(3);
    expect(await telemetryValue(b.id, 'spoof')).toBeUndefined();
  });
});

describe('a broker fault does not stop the API or the link', () => {
  it('a handler that throws an unexpected error (injected store fault): logged, the next message and the API are served', async () => {
    const creds = await fleet.addDevice('link-throw');
    const spy = vi.spyOn(DeviceRepo.prototype, 'recordTelemetry').mockImplementationOnce(() => {
      throw new Error('SQLITE_IOERR: disk I/O error (injected)');
    });
    await sendTelemetry(creds, 'first', 1); // this one hits the fault
    await waitFor('the injected fault to be hit', () => spy.mock.calls.length >= 1);
    await sendTelemetry(creds, 'second', 2);
    expect(await waitFor('the next telemetry', () => telemetryValue(creds.id, 'second'))).toBe(2);
    expect(await telemetryValue(creds.id, 'first')).toBeUndefined();
    expect((await fleet.api.get<{ devices: number }>('/v1/status')).devices).toBeGreaterThan(0);
  });

  it('a store write that fails after an await (a rejected promise): dropped and logged, nothing escapes, the next report is stored', async () => {
    const creds = await fleet.addDevice('link-reject');
    const spy = vi.spyOn(DeviceRepo.prototype, 'recordReport').mockImplementationOnce(async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw Object.assign(new Error('disk I/O error (injected)'), { code: 'SQLITE_IOERR' });
    });
    const c = await connectAs(creds);
    const report = (state: 'downloading' | 'committed', sequence: number) =>
      c.publishAsync(deviceTopic(creds.id, 'report'), Buffer.from(encodeReport({ state, sequence, running: [], time: 1_700_000_000 })), { qos: 1, retain: true });
    await report('downloading', 1); // this one hits the fault
    await waitFor('the injected fault to be hit', () => spy.mock.calls.length >= 1);
    await report('committed', 2);
    expect(await waitFor('the next report', async () => ((await detail(creds.id)).sequence === 2 ? true : undefined))).toBe(true);
    expect((await detail(creds.id)).state).toBe('committed');
    await c.endAsync();
  });

  it("an aedes 'error' event (e.g. a persistence failure) is logged, not fatal: the API and the link keep serving", async () => {
    const creds = await fleet.addDevice('link-aedes-error');
    fleet.server.broker!.aedes.emit('error', new Error('persistence failed (injected)'));
    expect((await fleet.api.get<{ devices: number }>('/v1/status')).devices).toBeGreaterThan(0);
    await sendTelemetry(creds, 'after-aedes-error', 4);
    expect(await waitFor('telemetry after the aedes error', () => telemetryValue(creds.id, 'after-aedes-error'))).toBe(4);
  });
});

describe("the broker's message bus (server/broker/mq.ts)", () => {
  // 100 messages hold every slot of the bus; 50,000 more queue behind them and, having no
  // subscriber, complete synchronously once released: what 10,000 devices did to the server.
  const flood = (mq: mqemitter.MQEmitter) => {
    const held: Array<() => void> = [];
    const order: number[] = [];
    mq.on('slow/#', (_m, done) => held.push(done));
    for (let i = 0; i < 100; i++) mq.emit({ topic: 'slow/x' });
    for (let i = 0; i < 50_000; i++) mq.emit({ topic: 'none/x', i }, () => order.push(i));
    return { release: () => held.forEach((done) => done()), order };
  };

  it('stock mqemitter overflows the stack on a long queue (mqemitter PR #204, aedes #193)', () => {
    const { release } = flood(mqemitter({ concurrency: 100, matchEmptyLevels: true }));
    expect(release).toThrow(/Maximum call stack size exceeded/);
  });

  it('ours drains the same queue, in order, without overflowing', async () => {
    const { release, order } = flood(createBrokerMq(100));
    expect(release).not.toThrow();
    await waitFor('the queue to drain', () => order.length === 50_000, 30_000);
    expect(order.every((v, i) => v === i)).toBe(true);
  });
});

describe("the broker's retained messages (server/broker/persistence.ts)", () => {
  const collect = async (stream: NodeJS.ReadableStream) => {
    const out: string[] = [];
    for await (const p of stream as AsyncIterable<{ topic: string; payload: Buffer }>) out.push(`${p.topic}=${p.payload.toString()}`);
    return out.sort();
  };

  it('an exact filter finds its retained message among 20,000; a wildcard filter still matches all it should; an empty payload clears', async () => {
    const store = new IndexedMemoryPersistence();
    for (let i = 0; i < 10_000; i++) {
      await store.storeRetained({ topic: deviceTopic(`d${i}`, 'directive'), payload: Buffer.from(`dir${i}`) });
      await store.storeRetained({ topic: deviceTopic(`d${i}`, 'online'), payload: Buffer.from('on') });
    }
    expect(await collect(store.createRetainedStreamCombi([deviceTopic('d42', 'chunk'), deviceTopic('d42', 'directive')]))).toEqual(['wf/v1/dev/d42/directive=dir42']);
    expect(await collect(store.createRetainedStreamCombi(['wf/v1/dev/d4242/+']))).toEqual(['wf/v1/dev/d4242/directive=dir4242', 'wf/v1/dev/d4242/online=on']);
    await store.storeRetained({ topic: deviceTopic('d42', 'directive'), payload: Buffer.alloc(0) });
    expect(await collect(store.createRetainedStream(deviceTopic('d42', 'directive')))).toEqual([]);
    expect(await collect(store.createRetainedStreamCombi(['wf/v1/dev/d42/#']))).toEqual(['wf/v1/dev/d42/online=on']);
  });
});
