// Issue 12, item 4: progress reports (`downloading` with byte counts) are coalesced in memory and
// reach SQLite in one batch, while the final state of an update is stored before its handler
// returns (in a 20 ms batch of outcomes: test/server-report-batches.test.ts; durable before the
// rollout engine acts on it) and survives a server restart.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceTopic, encodeReport, type Report } from '../protocol/index.js';
import { connectAs, startFleet, waitFor, type TestFleet } from './helpers/server.js';

let fleet: TestFleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

interface Stored {
  state: string;
  progress_bytes: number | null;
  sequence: number;
}

/** What is on disk, read by a second connection: what a server killed now would find. */
function stored(dataDir: string, id: string): Stored {
  const db = new Database(join(dataDir, 'wasmfleet.db'), { readonly: true });
  try {
    return db.prepare('SELECT state, progress_bytes, sequence FROM devices WHERE id = ?').get(id) as Stored;
  } finally {
    db.close();
  }
}

describe('progress report batching', () => {
  it('a burst of 100 progress reports is coalesced (not one write each), the API shows the latest, the final state is on disk at once and after a restart', async () => {
    // A flush interval longer than the test: any progress on disk before close would be a per-report write.
    fleet = await startFleet({ reportFlushMs: 3_600_000 });
    const creds = await fleet.addDevice('burst-1');
    const device = await connectAs(creds);
    const report = (r: Partial<Report>) =>
      device.publishAsync(deviceTopic(creds.id, 'report'), Buffer.from(encodeReport({ state: 'downloading', sequence: 0, targetSequence: 1, running: [], time: 1000, ...r })), { qos: 1 });

    for (let i = 1; i <= 100; i++) await report({ progress: { bytes: i * 655, total: 65_500 } });
    const shown = await waitFor('the latest progress in the API', async () => {
      const d = await fleet!.api.get<{ state: string; progress: { bytes: number; total: number } | null }>(`/v1/devices/${creds.id}`);
      return d.progress?.bytes === 65_500 ? d : undefined;
    });
    expect(shown.state).toBe('downloading');
    // Nothing of the burst has been written yet: it waits in memory as one pending row.
    expect(stored(fleet.dataDir, creds.id)).toMatchObject({ state: 'idle', progress_bytes: null });

    // A final state does not wait for the in-flight flush: it is on disk as soon as the server has handled it.
    await report({ state: 'committed', sequence: 1, targetSequence: 1 });
    await waitFor('committed on disk', () => stored(fleet!.dataDir, creds.id).state === 'committed');
    expect(stored(fleet.dataDir, creds.id)).toMatchObject({ state: 'committed', sequence: 1, progress_bytes: null });

    // A new burst, then a restart: the last progress is flushed on close and read back.
    for (let i = 1; i <= 20; i++) await report({ sequence: 1, targetSequence: 2, progress: { bytes: i * 100, total: 2000 } });
    await waitFor('the second burst in the API', async () => (await fleet!.api.get<{ progress: { bytes: number } | null }>(`/v1/devices/${creds.id}`)).progress?.bytes === 2000);
    expect(stored(fleet.dataDir, creds.id).state).toBe('committed');
    await device.endAsync();
    await fleet.restart();
    const after = await fleet.api.get<{ state: string; sequence: number; progress: { bytes: number; total: number } | null }>(`/v1/devices/${creds.id}`);
    expect(after).toMatchObject({ state: 'downloading', sequence: 1, progress: { bytes: 2000, total: 2000 } });
  });
});
