// The console's device page and live rollout view with real devices (docs/console.md): a hostile
// device's history stays bounded, telemetry keeps a bounded recent series, and the rollout stream
// (server-sent events) pushes a snapshot when the rollout is paused from a session (cookie + CSRF)
// and ends cleanly when it is aborted. Real server, real MQTT devices, real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { encodeReport, encodeTelemetry } from '../protocol/messages.js';
import { deviceTopic } from '../protocol/topics.js';
import type { DeviceHistoryView, RolloutLiveView, RolloutStreamEnd, SessionView, TelemetryView } from '../protocol/views.js';
import { openStore } from '../server/store/open.js';
import { startRollout } from './helpers/rollouts.js';
import { connectAs, startFleet, waitFor, type TestFleet } from './helpers/server.js';

interface Stream {
  status: number;
  contentType: string | null;
  events: Array<{ event: string; data: unknown }>;
  comments: number;
  closed: () => boolean;
  cancel: () => Promise<void>;
}

/** Read a server-sent event stream as EventSource would (event/data blocks, ": " comments). */
async function openStream(url: string, headers: Record<string, string>): Promise<Stream> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers } });
  const s: Stream = { status: res.status, contentType: res.headers.get('content-type'), events: [], comments: 0, closed: () => closed, cancel: () => reader.cancel() };
  let closed = false;
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (block.startsWith(':')) {
          s.comments++;
          continue;
        }
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
        s.events.push({ event, data: JSON.parse(data) });
      }
    }
    closed = true;
  })();
  return s;
}

const snapshots = (s: Stream) => s.events.filter((e) => e.event === 'snapshot').map((e) => e.data as RolloutLiveView);

describe('console: device history and telemetry from a device', () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ telemetrySeries: { bucketMs: 40, keep: 10, flushMs: 50 }, limits: { deviceMessages: { capacity: 2000, perSecond: 200 } } });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('keeps only the last 100 report events of a device that reports without end, newest first', async () => {
    const creds = await fleet.addDevice('chatty');
    const client = await connectAs(creds);
    const topic = deviceTopic('chatty', 'report');
    for (let i = 1; i <= 150; i++) {
      const failing = i % 2 === 0;
      await client.publishAsync(
        topic,
        Buffer.from(encodeReport({ state: failing ? 'failed' : 'downloading', reason: failing ? 'DIGEST_MISMATCH' : undefined, detail: failing ? `<img src=x onerror=alert(${i})>` : undefined, sequence: i, running: [], time: i })),
        { qos: 1 },
      );
      // In bursts of 50: a device that outruns the server's handling of its messages has the excess
      // dropped (server/link/dispatch.ts), and PostgreSQL handles them slower than SQLite.
      if (i % 50 === 0) {
        const n = i;
        await waitFor(`report ${n} recorded`, async () => (await fleet.api.get<DeviceHistoryView>('/v1/devices/chatty/history?limit=1')).events[0]?.sequence === n);
      }
    }
    // the same report again (a progress step, a re-send) is not a new event
    await client.publishAsync(topic, Buffer.from(encodeReport({ state: 'failed', reason: 'DIGEST_MISMATCH', detail: 'again', sequence: 150, running: [], time: 151 })), { qos: 1 });
    await client.endAsync();
    const h = await waitFor('150 reports recorded', async () => {
      const v = await fleet.api.get<DeviceHistoryView>('/v1/devices/chatty/history?limit=200');
      return v.events[0]?.sequence === 150 ? v : undefined;
    });
    expect(h.keep).toBe(100);
    expect(h.events.length).toBe(100);
    expect(h.events.map((e) => e.sequence)).toEqual(Array.from({ length: 100 }, (_, k) => 150 - k));
    // the device's text comes back as data, exactly as sent (the page escapes it)
    expect(h.events[0]).toMatchObject({ kind: 'report', state: 'failed', reason: 'DIGEST_MISMATCH', detail: '<img src=x onerror=alert(150)>', rollout: null, releases: [] });
    expect(h.events[1]).toMatchObject({ state: 'downloading', reason: null, detail: null });
    const few = await fleet.api.get<DeviceHistoryView>('/v1/devices/chatty/history?limit=5');
    expect(few.events.length).toBe(5);
    // What the store holds for it stays bounded too (trimmed every 10 inserts: at most 110 rows).
    const store = await openStore({ dataDir: fleet.dataDir, db: fleet.store.db });
    const stored = await store.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM device_events WHERE device_id = 'chatty'");
    await store.sql.close();
    expect(stored?.n).toBeGreaterThanOrEqual(100);
    expect(stored?.n).toBeLessThanOrEqual(110);
    const missing = await fleet.api.request('GET', '/v1/devices/nobody/history').catch((e: Error) => e);
    expect(String(missing)).toContain('unknown device');
  });

  it('keeps recent telemetry per name (bounded names and points) next to the latest values', async () => {
    const creds = await fleet.addDevice('sensor');
    const client = await connectAs(creds);
    const topic = deviceTopic('sensor', 'telemetry');
    // 20 names: the ring keeps the first 16 (names come from the device: bounded)
    for (let n = 0; n < 20; n++) await client.publishAsync(topic, Buffer.from(encodeTelemetry({ name: `n${String(n).padStart(2, '0')}`, value: n, time: 1 })), { qos: 1 });
    // one name over about 30 buckets of 40 ms: the ring keeps the last 10
    for (let i = 0; i < 30; i++) {
      await client.publishAsync(topic, Buffer.from(encodeTelemetry({ name: 'temp', value: 20 + i, time: 2 + i })), { qos: 1 });
      await new Promise((r) => setTimeout(r, 40));
    }
    await client.endAsync();
    const t = await waitFor('the last temperature', async () => {
      const v = await fleet.api.get<TelemetryView>('/v1/devices/sensor/telemetry');
      return v.latest.find((l) => l.name === 'temp')?.value === 49 ? v : undefined;
    });
    expect(t.latest.length).toBe(21); // the latest values keep every name, as before
    expect(t).toMatchObject({ bucketMs: 40, keep: 10 });
    const names = t.series.map((s) => s.name);
    expect(names).not.toContain('temp'); // the 17th name: over the limit
    expect(names.length).toBeLessThanOrEqual(16);
    expect(names).toEqual(names.filter((n) => n < 'n16'));

    // a device with room: its series
    const c2 = await connectAs(await fleet.addDevice('thermo'));
    for (let i = 0; i < 30; i++) {
      await c2.publishAsync(deviceTopic('thermo', 'telemetry'), Buffer.from(encodeTelemetry({ name: 'temp', value: 20 + i, time: 2 + i })), { qos: 1 });
      await new Promise((r) => setTimeout(r, 40));
    }
    await c2.endAsync();
    const s = await waitFor('the temperature series', async () => {
      const v = await fleet.api.get<TelemetryView>('/v1/devices/thermo/telemetry');
      const temp = v.series.find((x) => x.name === 'temp');
      return temp && temp.points.at(-1)?.value === 49 ? temp : undefined;
    });
    expect(s.points.length).toBeGreaterThan(3);
    expect(s.points.length).toBeLessThanOrEqual(10);
    const values = s.points.map((p) => p.value);
    expect(values).toEqual([...values].sort((a, b) => a - b)); // oldest first
    expect(values[0]).toBeGreaterThan(30); // the early values left the ring
    const times = s.points.map((p) => p.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
});

describe('console: the live rollout stream', () => {
  let fleet: TestFleet;
  let sims: Fleet;
  let base: string;

  beforeAll(async () => {
    fleet = await startFleet({ rolloutTickMs: 100, stream: { minIntervalMs: 100, refreshMs: 60_000, heartbeatMs: 300 } });
    base = fleet.server.httpUrl;
    await fleet.publish('counter', 'counter', '1.0.0');
    sims = await Fleet.start({ server: base, token: fleet.server.operatorToken, devices: 5, prefix: 'live', tags: { site: 'a' }, agent: { probation: { ticks: 2 } } });
    await sims.waitFor('online', (s) => s.online === s.devices, 20_000);
    await waitFor('the hellos on the server', async () => (await fleet.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.filter((d) => d.hello).length === 5);
  }, 60_000);
  afterAll(async () => {
    await sims?.stop();
    await fleet?.close();
  });

  it('streams snapshots as devices update, one when the page pauses it, and an end event when it is aborted', async () => {
    // wave 1 (2 devices) then a long soak: the rollout stays in wave 1 until the page acts
    const r = await startRollout(fleet.api, fleet.keysDir, 'counter@1.0.0', { tags: { site: 'a' } }, { waves: [{ count: 2 }, { percent: 100 }], soakSeconds: 600, deadlineSeconds: 600 });
    const session = await fetch(`${base}/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: fleet.server.operatorToken }) });
    const cookie = (session.headers.get('set-cookie') ?? '').split(';')[0];
    const { csrf } = (await session.json()) as SessionView;

    const missing = await fetch(`${base}/v1/rollouts/r-nope/events`, { headers: { cookie } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('ROLLOUT_NOT_FOUND');

    const a = await openStream(`${base}/v1/rollouts/${r.id}/events`, { cookie });
    const b = await openStream(`${base}/v1/rollouts/${r.id}/events`, { authorization: `Bearer ${fleet.server.operatorToken}` });
    expect(a.status).toBe(200);
    expect(a.contentType).toContain('text/event-stream');

    // wave 1 commits while we watch: its soak timer shows
    const soaking = await waitFor('wave 1 committed and soaking, on the stream', () => snapshots(a).find((v) => v.waves[0].states.committed === 2 && v.soakEndsMs !== null), 60_000);
    expect(soaking).toMatchObject({ id: r.id, state: 'running', wave: 1, waveCount: 2, devices: 5, module: 'counter', version: '1.0.0' });
    expect(soaking.waves.map((w) => w.cap)).toEqual([2, 5]);
    expect(soaking.states).toMatchObject({ committed: 2, pending: 3 });
    expect(soaking.soakEndsMs! - soaking.waveSettledMs!).toBe(600_000);
    expect(snapshots(a)[0].states.committed ?? 0).toBeLessThan(2); // it started before and moved on
    await waitFor('the second browser to see the same', () => snapshots(b).some((v) => v.soakEndsMs !== null));
    await waitFor('a heartbeat comment', () => a.comments > 0, 5000);

    // Pause from the page: cookie + CSRF header. Without the header it is refused.
    const refused = await fetch(`${base}/v1/rollouts/${r.id}/pause`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: base }, body: '{}' });
    expect(refused.status).toBe(403);
    const seen = snapshots(a).length;
    const paused = await fetch(`${base}/v1/rollouts/${r.id}/pause`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: base, 'x-wf-csrf': csrf }, body: '{}' });
    expect(paused.status).toBe(200);
    const p = await waitFor('the paused snapshot', () => snapshots(a).slice(seen).find((v) => v.state === 'paused'), 10_000);
    expect(p.reason).toBe('OPERATOR');
    expect(p.states).toMatchObject({ committed: 2, pending: 3 }); // nobody else was assigned
    const audit = await fleet.api.get<{ entries: Array<{ action: string; actor: string | null }> }>(`/v1/audit?rollout=${r.id}&action=rollout.paused`);
    expect(audit.entries.map((e) => e.actor)).toEqual([expect.stringMatching(/ operator-token$/)]);

    // Abort from the page: the stream says so and ends.
    const aborted = await fetch(`${base}/v1/rollouts/${r.id}/abort`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-wf-csrf': csrf }, body: '{}' });
    expect(aborted.status).toBe(200);
    await waitFor('both streams closed by the server', () => a.closed() && b.closed(), 10_000);
    for (const s of [a, b]) {
      const last = s.events.at(-1)!;
      expect(last.event).toBe('end');
      expect(last.data as RolloutStreamEnd).toEqual({ id: r.id, reason: 'ROLLOUT_FINISHED', state: 'aborted' });
      const final = snapshots(s).at(-1)!;
      expect(final).toMatchObject({ state: 'aborted', final: true });
      expect(final.states).toMatchObject({ committed: 2, excluded: 3 });
    }
    // consecutive snapshots differ: a change, not a poll
    const all = snapshots(a);
    for (let i = 1; i < all.length; i++) expect({ ...all[i], at: 0 }).not.toEqual({ ...all[i - 1], at: 0 });

    // the device page shows the rollout's directive and the committed report
    const committed = await fleet.api.get<{ devices: Array<{ deviceId: string }> }>(`/v1/rollouts/${r.id}/devices?state=committed`);
    const dev = committed.devices[0].deviceId;
    const h = await fleet.api.get<DeviceHistoryView>(`/v1/devices/${dev}/history`);
    const directive = h.events.find((e) => e.kind === 'directive' && e.rollout === r.id);
    expect(directive).toMatchObject({ releases: ['counter@1.0.0'] });
    const done = h.events.find((e) => e.kind === 'report' && e.state === 'committed' && e.sequence === directive!.sequence);
    expect(done).toMatchObject({ releases: ['counter@1.0.0'] });
    expect(h.events.indexOf(done!)).toBeLessThan(h.events.indexOf(directive!)); // newest first
  }, 120_000);

  it('answers a stream of a finished rollout with its last snapshot and the end', async () => {
    const { rollouts } = await fleet.api.get<{ rollouts: Array<{ id: string; state: string }> }>('/v1/rollouts');
    const done = rollouts.find((x) => x.state === 'aborted')!;
    const s = await openStream(`${base}/v1/rollouts/${done.id}/events`, { authorization: `Bearer ${fleet.server.operatorToken}` });
    await waitFor('the stream to end', () => s.closed(), 10_000);
    expect(s.events.map((e) => e.event)).toEqual(['snapshot', 'end']);
  });
});
