// Device inventory from what devices say: hello, online (and the will message when they drop),
// reports, telemetry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic, encodeHello, encodeOnline, encodeReport, encodeTelemetry } from '../protocol/index.js';
import { connectAs, startFleet, waitFor, type TestFleet } from './helpers/server.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startFleet();
});
afterAll(async () => fleet?.close());

interface Shown {
  online: boolean;
  lastSeen: number | null;
  hello: { host: string; capabilities: string[]; maxChunk: number } | null;
  telemetry: Array<{ name: string; value: number }>;
}

describe('device inventory', () => {
  it('records hello, online, telemetry, and marks the device offline from its will message', async () => {
    const creds = await fleet.addDevice('inv-1', { site: 'lab' });
    const show = () => fleet.api.get<Shown>('/v1/devices/inv-1');
    expect((await show()).lastSeen).toBeNull();
    const client = await connectAs(creds, {
      will: { topic: deviceTopic('inv-1', 'online'), payload: Buffer.from(encodeOnline(false)), qos: 1, retain: true },
      keepalive: 1,
    });
    await client.publishAsync(deviceTopic('inv-1', 'hello'), Buffer.from(encodeHello({ host: 'v8', abi: 1, capabilities: ['kv', 'log'], maxChunk: 4096, memory: 1 << 20, agent: 'test/1' })), {
      qos: 1,
      retain: true,
    });
    await client.publishAsync(deviceTopic('inv-1', 'online'), Buffer.from(encodeOnline(true)), { qos: 1, retain: true });
    await client.publishAsync(deviceTopic('inv-1', 'telemetry'), Buffer.from(encodeTelemetry({ name: 'temperature', value: 21.5, time: 100 })), { qos: 1 });
    const seen = await waitFor('online with hello and telemetry', async () => {
      const d = await show();
      return d.online && d.hello && d.telemetry.length === 1 ? d : undefined;
    });
    expect(seen.hello).toMatchObject({ host: 'v8', capabilities: ['kv', 'log'], maxChunk: 4096 });
    expect(seen.telemetry).toEqual([expect.objectContaining({ name: 'temperature', value: 21.5 })]);
    expect(seen.lastSeen).not.toBeNull();

    // Drop the connection without DISCONNECT: the broker publishes the will.
    client.stream.destroy();
    await waitFor('offline via will', async () => (await show()).online === false);
    const status = await fleet.api.get<{ devices: number; online: number }>('/v1/status');
    expect(status).toMatchObject({ devices: 1, online: 0 });
  });

  it('reports sent back to back are applied in the order sent: the last one stands (on either store)', async () => {
    const creds = await fleet.addDevice('inv-order');
    const client = await connectAs(creds);
    // Progress reports, then committed: published without waiting for one another, as an agent does.
    const sent = Array.from({ length: 50 }, (_, i) =>
      client.publishAsync(deviceTopic('inv-order', 'report'), Buffer.from(encodeReport({ state: 'downloading', sequence: 1, targetSequence: 1, running: [], progress: { bytes: i * 100, total: 5000 }, time: 100 + i })), { qos: 1 }),
    );
    sent.push(client.publishAsync(deviceTopic('inv-order', 'report'), Buffer.from(encodeReport({ state: 'failed', reason: 'MODULE_TRAP', sequence: 1, running: [], time: 200 })), { qos: 1 }));
    await Promise.all(sent);
    const last = await waitFor('the last report', async () => {
      const d = await fleet.api.get<{ state: string; lastError: string | null }>('/v1/devices/inv-order');
      return d.state !== 'idle' && d.state !== 'downloading' ? d : undefined;
    });
    // Give an earlier report that was overtaken the time to land (it must not).
    await new Promise((r) => setTimeout(r, 500));
    expect(await fleet.api.get('/v1/devices/inv-order')).toMatchObject({ state: 'failed', lastError: 'MODULE_TRAP' });
    expect(last.state).toBe('failed');
    await client.endAsync();
  });
});
