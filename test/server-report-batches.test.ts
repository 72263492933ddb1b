// Issue 12, item 4: outcome reports (committed, failed, rolled_back) of many devices are written
// together, one transaction per window, with the device history in the same transaction
// (server/store/devices.ts, store/device-events.ts). Each device's reports keep their order, the
// rollout engine hears of an outcome only once it is stored, and a server stopped while outcomes
// wait writes them before it closes. Runs on SQLite and on PostgreSQL.
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { Fleet } from '../device-sim/fleet.js';
import { deviceTopic, encodeReport, type Report } from '../protocol/index.js';
import { DeviceEventRepo } from '../server/store/device-events.js';
import { DeviceRepo } from '../server/store/devices.js';
import { openStore, type Store } from '../server/store/open.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch } from '../server/store/telemetry.js';
import { members } from './helpers/rollouts.js';
import { connectAs, startFleet, tempDir, testStore, waitFor, type TestFleet, type TestStore } from './helpers/server.js';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;
const digest = new Uint8Array(32).fill(7);

const report = (r: Partial<Report>): Report => ({ state: 'committed', sequence: 1, targetSequence: 1, running: [], time: 1000, ...r });

/** What the store holds for a device, read by a second connection: what a server killed now would leave. */
async function storedState(fleet: TestFleet, id: string): Promise<{ state: string; sequence: number } | undefined> {
  const store = await openStore({ dataDir: fleet.dataDir, db: fleet.store.db });
  try {
    return await store.sql.get<{ state: string; sequence: number }>('SELECT state, sequence FROM devices WHERE id = ?', [id]);
  } finally {
    await store.sql.close();
  }
}

describe('outcome reports in batches (the store alone)', () => {
  let store: Store | undefined;
  let testDb: TestStore | undefined;
  let devices: DeviceRepo | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await devices?.close();
    await store?.sql.close();
    await testDb?.drop();
    store = testDb = devices = undefined;
  });

  async function open(): Promise<{ devices: DeviceRepo; events: DeviceEventRepo; sql: Store['sql'] }> {
    testDb = await testStore();
    store = await openStore({ dataDir: tempDir(), db: testDb.db });
    const events = new DeviceEventRepo(store.sql, undefined, log);
    // Windows longer than the test: only an explicit flush (or close) writes.
    devices = new DeviceRepo(store.sql, new TelemetryBatch(store.sql, log, TELEMETRY_BATCH_DEFAULTS), { outcomeWindowMs: HOUR, progressFlushMs: HOUR, rider: events });
    return { devices, events, sql: store.sql };
  }

  it('the outcomes of 50 devices within one window are written in one transaction, history included, and each reporter hears only then', async () => {
    const { devices, events, sql } = await open();
    const ids = Array.from({ length: 50 }, (_, i) => `batch-${String(i).padStart(2, '0')}`);
    await devices.create(ids.map((id) => ({ id })));
    const tx = vi.spyOn(sql, 'tx');

    let heard = 0;
    const reporters = ids.map((id, i) => {
      const r = report({ state: i % 5 === 0 ? 'failed' : 'committed', reason: i % 5 === 0 ? 'MODULE_TRAP' : undefined, running: [{ component: 'app', version: '1.0.0', manifestDigest: digest }] });
      events.recordReport(id, r, 1_000 + i);
      return devices.recordReport(id, r).then(() => heard++);
    });
    await new Promise((r) => setTimeout(r, 50));
    // Waiting in memory: nothing stored, nobody told, yet the API's reads already show them.
    expect(heard).toBe(0);
    expect(tx).not.toHaveBeenCalled();
    expect((await sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM devices WHERE state <> 'idle'"))?.n).toBe(0);
    expect((await devices.get('batch-01'))?.state).toBe('committed');
    // The rollout engine reads only what is stored: it never acts on an outcome a crash could lose.
    expect((await devices.getForEngine('batch-01'))?.state).toBe('idle');

    await devices.flushOutcomes();
    await Promise.all(reporters);
    expect(heard).toBe(50);
    expect(tx).toHaveBeenCalledTimes(1);
    const states = await sql.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM devices GROUP BY state ORDER BY state');
    expect(states).toEqual([
      { state: 'committed', n: 40 },
      { state: 'failed', n: 10 },
    ]);
    expect((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM commits'))?.n).toBe(40);
    expect((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM device_events'))?.n).toBe(50);
    expect((await devices.get('batch-00'))?.lastError).toBe('MODULE_TRAP');
  });

  it("one device's reports keep their order across the in-flight and outcome batches", async () => {
    const { devices, events, sql } = await open();
    await devices.create([{ id: 'order-a' }, { id: 'order-b' }]);
    const record = (id: string, r: Report) => {
      events.recordReport(id, r, Date.now());
      return devices.recordReport(id, r);
    };
    // a: an outcome, then a newer in-flight step (the next update's directive arrived): the step wins.
    const aOutcome = record('order-a', report({ state: 'committed', sequence: 1 }));
    await record('order-a', report({ state: 'assigned', sequence: 1, targetSequence: 2 }));
    // b: an in-flight step, then its outcome: the outcome wins.
    await record('order-b', report({ state: 'downloading', sequence: 0, targetSequence: 1, progress: { bytes: 10, total: 100 } }));
    const bOutcome = record('order-b', report({ state: 'rolled_back', reason: 'MODULE_TRAP', sequence: 0, targetSequence: 1 }));

    await devices.flushProgress();
    await Promise.all([aOutcome, bOutcome]);
    const rows = await sql.all<{ id: string; state: string; target_sequence: number | null }>("SELECT id, state, target_sequence FROM devices WHERE id LIKE 'order-%' ORDER BY id");
    expect(rows).toEqual([
      { id: 'order-a', state: 'assigned', target_sequence: 2 },
      { id: 'order-b', state: 'rolled_back', target_sequence: 1 },
    ]);
    expect((await events.history('order-a', 10)).map((e) => e.state)).toEqual(['assigned', 'committed']);
    expect((await events.history('order-b', 10)).map((e) => e.state)).toEqual(['rolled_back', 'downloading']);
  });

  it('a failed batch: every reporter in it hears the error, the in-flight steps are kept for the next one', async () => {
    const { devices, events, sql } = await open();
    await devices.create([{ id: 'fail-a' }, { id: 'fail-b' }]);
    await devices.recordReport('fail-b', report({ state: 'verifying', sequence: 0, targetSequence: 1 }));
    const outcome = devices.recordReport('fail-a', report({ state: 'committed' }));
    events.recordReport('fail-a', report({ state: 'committed' }), 1);
    vi.spyOn(sql, 'tx').mockRejectedValueOnce(Object.assign(new Error('disk I/O error (injected)'), { code: 'SQLITE_IOERR' }));
    await expect(devices.flushProgress()).rejects.toThrow(/injected/);
    await expect(outcome).rejects.toThrow(/injected/);
    await devices.flushProgress();
    expect(await sql.get('SELECT state FROM devices WHERE id = ?', ['fail-b'])).toEqual({ state: 'verifying' });
    expect(await sql.get('SELECT state FROM devices WHERE id = ?', ['fail-a'])).toEqual({ state: 'idle' });

    // b's next step fails to be written, and b's outcome arrives while that write is under way:
    // the step is not kept for the next try (it would land over the newer outcome).
    await devices.recordReport('fail-b', report({ state: 'installing', sequence: 0, targetSequence: 1 }));
    let outcomeB: Promise<void> | undefined;
    vi.spyOn(sql, 'tx').mockImplementationOnce(async () => {
      outcomeB = devices!.recordReport('fail-b', report({ state: 'failed', reason: 'MODULE_TRAP', sequence: 0, targetSequence: 1 }));
      throw Object.assign(new Error('disk I/O error (injected)'), { code: 'SQLITE_IOERR' });
    });
    await expect(devices.flushProgress()).rejects.toThrow(/injected/);
    await devices.flushProgress();
    await outcomeB;
    expect(await sql.get('SELECT state FROM devices WHERE id = ?', ['fail-b'])).toEqual({ state: 'failed' });
  });

  it('a batch writes device rows in id order, so a writer locking them in that order (a deploy) never deadlocks with it', async () => {
    const { devices, sql } = await open();
    await devices.create([{ id: 'lock-a' }, { id: 'lock-z' }]);
    // Arrival order z, then a.
    const reporters = [devices.recordReport('lock-z', report({})), devices.recordReport('lock-a', report({}))];
    let hold!: () => void;
    const held = new Promise<void>((r) => (hold = r));
    let locked!: () => void;
    const hasLock = new Promise<void>((r) => (locked = r));
    // Another writer takes lock-a, then lock-z, as issuing directives does (device id order).
    const other = sql.tx(async (q) => {
      await q.run('UPDATE devices SET owed_sequence = 5 WHERE id = ?', ['lock-a']);
      locked();
      await held;
      await q.run('UPDATE devices SET owed_sequence = 5 WHERE id = ?', ['lock-z']);
    });
    await hasLock;
    const flush = devices.flushOutcomes();
    // Give the batch time to take its first row lock (in arrival order it would hold lock-z now).
    await new Promise((r) => setTimeout(r, 300));
    hold();
    // On PostgreSQL, rows written in arrival order end here in "deadlock detected".
    await Promise.all([other, flush, ...reporters]);
    expect(await sql.all('SELECT id, state, owed_sequence FROM devices ORDER BY id')).toEqual([
      { id: 'lock-a', state: 'committed', owed_sequence: 5 },
      { id: 'lock-z', state: 'committed', owed_sequence: 5 },
    ]);
  });
});

describe('outcome reports in batches (a server)', () => {
  let fleet: TestFleet | undefined;
  let sims: Fleet | undefined;
  afterEach(async () => {
    await sims?.stop();
    await fleet?.close();
    sims = fleet = undefined;
  });

  it('a server stopped while outcomes wait for their batch stores them before it closes, and they are there after a restart', async () => {
    fleet = await startFleet({ reportOutcomeWindowMs: HOUR, reportFlushMs: HOUR });
    const creds = await fleet.addDevice('late-1');
    const device = await connectAs(creds);
    const committed = report({ running: [{ component: 'app', version: '2.0.0', manifestDigest: digest }] });
    await device.publishAsync(deviceTopic(creds.id, 'report'), Buffer.from(encodeReport(committed)), { qos: 1 });
    await waitFor('the outcome in the API', async () => (await fleet!.api.get<{ state: string }>(`/v1/devices/${creds.id}`)).state === 'committed');
    // Not stored yet: it waits for its batch.
    expect(await storedState(fleet, creds.id)).toEqual({ state: 'idle', sequence: 0 });
    await device.endAsync();

    await fleet.restart({ reportOutcomeWindowMs: undefined, reportFlushMs: undefined });
    expect(await storedState(fleet, creds.id)).toEqual({ state: 'committed', sequence: 1 });
    const after = await fleet.api.get<{ state: string; commits: Array<{ sequence: number; version: string }> }>(`/v1/devices/${creds.id}`);
    expect(after.state).toBe('committed');
    expect(after.commits).toMatchObject([{ sequence: 1, version: '2.0.0' }]);
    const history = await fleet.api.get<{ events: Array<{ kind: string; state: string | null }> }>(`/v1/devices/${creds.id}/history`);
    expect(history.events.filter((e) => e.kind === 'report').map((e) => e.state)).toEqual(['committed']);
  });

  it('a rollout whose devices commit within one window: every member committed, every device history has its outcome', async () => {
    // A window long enough that the devices' outcomes share batches; the in-flight flush too.
    fleet = await startFleet({ reportOutcomeWindowMs: 1_000, reportFlushMs: 1_000 });
    sims = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, devices: 6, prefix: 'win', tags: { site: 'w' }, agent: { probation: { ticks: 1 } } });
    await waitFor('6 devices online', () => sims!.summary().online === 6);
    await fleet.publish('counter', 'counter', '1.0.0');
    const d = await fleet.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site: 'w' } });
    const settled = await waitFor(
      'every member committed',
      async () => {
        const ms = await members(fleet!.api, d.deployment);
        return ms.length === 6 && ms.every((m) => m.state === 'committed') ? ms : undefined;
      },
      60_000,
    );
    expect(settled.map((m) => m.deviceId).sort()).toEqual(['win-0001', 'win-0002', 'win-0003', 'win-0004', 'win-0005', 'win-0006']);
    for (const m of settled) {
      // The engine heard of the outcome after it was stored: the device row and its history have it.
      expect(await storedState(fleet, m.deviceId)).toMatchObject({ state: 'committed' });
      const h = await fleet.api.get<{ events: Array<{ kind: string; state: string | null }> }>(`/v1/devices/${m.deviceId}/history`);
      expect(h.events.find((e) => e.kind === 'report')?.state).toBe('committed');
    }
  });
});
