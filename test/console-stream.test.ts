// The rollout stream's watcher (server/http/rollout-stream.ts) on a real SQLite store: however
// many browsers watch a rollout and however often the engine says it changed, one watcher loads
// the snapshot, at most once per interval, and sends it only when it differs; the stream ends
// with ROLLOUT_NOT_FOUND when the rollout is gone. The load is the real query, counted.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RolloutWatchers, type Subscriber } from '../server/http/rollout-stream.js';
import { ConsoleQueries } from '../server/store/console-queries.js';
import { openDb, type Db } from '../server/store/db.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import type { RolloutLiveView, RolloutStreamEnd } from '../protocol/views.js';
import { startFleet, tempDir, waitFor } from './helpers/server.js';

function browser() {
  const seen = { snapshots: [] as RolloutLiveView[], ends: [] as RolloutStreamEnd[] };
  const s: Subscriber = { snapshot: (v) => seen.snapshots.push(v), end: (e) => seen.ends.push(e), heartbeat: () => {}, close: () => {} };
  return { s, seen };
}

describe('rollout stream watchers', () => {
  let dir: string;
  let db: Db;
  let loads = 0;
  let watchers: RolloutWatchers;

  beforeEach(() => {
    dir = tempDir('wf-stream-');
    db = openDb(join(dir, 'wasmfleet.db'));
    const queries = new ConsoleQueries(new SqliteSql(db));
    loads = 0;
    watchers = new RolloutWatchers(
      (id) => {
        loads++;
        return queries.rolloutLive(id, Date.now());
      },
      pino({ level: 'silent' }),
      { minIntervalMs: 100, refreshMs: 60_000, heartbeatMs: 60_000 },
    );
    const now = Date.now();
    db.prepare(
      `INSERT INTO rollouts (id, created_ms, kind, module, version, manifest_digest, selector, policy, state, wave, expires, updated_ms)
       VALUES ('r1', ?, 'rollout', 'app', '1.0.0', 'd', '{}', ?, 'running', 0, ?, ?)`,
    ).run(now, JSON.stringify({ waves: [{ count: 2 }, { percent: 100 }], soakSeconds: 60 }), Math.floor(now / 1000) + 3600, now);
    for (let i = 1; i <= 4; i++) {
      db.prepare("INSERT INTO devices (id, token_hash, created_at) VALUES (?, '', 0)").run(`d${i}`);
      db.prepare("INSERT INTO rollout_devices (rollout_id, device_id, state, wave, joined_ms, updated_ms) VALUES ('r1', ?, 'pending', NULL, 0, 0)").run(`d${i}`);
    }
  });
  afterEach(() => {
    watchers.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares one watcher among many browsers and coalesces a burst of changes into few loads', async () => {
    const browsers = Array.from({ length: 50 }, browser);
    const stops = browsers.map((b) => watchers.subscribe('r1', b.s));
    expect(watchers.size).toBe(1);
    await waitFor('the first snapshot everywhere', () => browsers.every((b) => b.seen.snapshots.length === 1));
    expect(loads).toBe(1);
    expect(browsers[0].seen.snapshots[0]).toMatchObject({ id: 'r1', state: 'running', devices: 4, states: { pending: 4 }, wave: 1, waveCount: 2 });

    // a device fails: the engine says "r1 changed" on every tick of a burst
    db.prepare("UPDATE rollout_devices SET state = 'failed', reason = 'DIGEST_MISMATCH', wave = 0, updated_ms = 5 WHERE device_id = 'd1'").run();
    const started = Date.now();
    while (Date.now() - started < 300) {
      watchers.changed(['r1', 'other']);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor('the failure everywhere', () => browsers.every((b) => b.seen.snapshots.length === 2));
    // 300 ms of notifications, 100 ms apart at most: a handful of loads, one new snapshot
    expect(loads).toBeLessThanOrEqual(6);
    const failed = browsers[0].seen.snapshots[1];
    expect(failed.failures).toEqual([{ device: 'd1', state: 'failed', reason: 'DIGEST_MISMATCH', detail: null, wave: 1, updatedMs: 5 }]);
    expect(failed.reasons).toEqual([{ state: 'failed', reason: 'DIGEST_MISMATCH', devices: 1 }]);
    expect(failed.waves[0].states).toEqual({ failed: 1 });
    await new Promise((r) => setTimeout(r, 250));
    expect(browsers[0].seen.snapshots.length).toBe(2); // nothing changed since: nothing sent

    for (const stop of stops) stop();
    expect(watchers.size).toBe(0); // the last browser gone, the watcher stops
  });

  it('still updates without the engine (another instance runs it): the slow refresh finds the change', async () => {
    const queries = new ConsoleQueries(new SqliteSql(db));
    const fallback = new RolloutWatchers((id) => queries.rolloutLive(id, Date.now()), pino({ level: 'silent' }), { minIntervalMs: 10, refreshMs: 150, heartbeatMs: 60_000 });
    try {
      const b = browser();
      fallback.subscribe('r1', b.s);
      await waitFor('the first snapshot', () => b.seen.snapshots.length === 1);
      db.prepare("UPDATE rollouts SET state = 'paused', reason = 'OPERATOR' WHERE id = 'r1'").run();
      // no changed() call: nothing from an engine in this process
      const paused = await waitFor('the paused snapshot', () => b.seen.snapshots.find((v) => v.state === 'paused'), 5000);
      expect(paused.reason).toBe('OPERATOR');
    } finally {
      fallback.close();
    }
  });

  it('ends the stream with ROLLOUT_NOT_FOUND when the rollout is gone', async () => {
    const b = browser();
    watchers.subscribe('r1', b.s);
    await waitFor('the first snapshot', () => b.seen.snapshots.length === 1);
    db.prepare("DELETE FROM rollouts WHERE id = 'r1'").run();
    watchers.changed(['r1']);
    await waitFor('the end', () => b.seen.ends.length === 1);
    expect(b.seen.ends[0]).toEqual({ id: 'r1', reason: 'ROLLOUT_NOT_FOUND', state: null });
    expect(watchers.size).toBe(0);
  });
});

describe('rollout stream and server shutdown', () => {
  it('closes open streams when the server shuts down (no end event: the browser reconnects to the next server)', async () => {
    const fleet = await startFleet();
    try {
      // A rollout row written by "another instance": a second connection to the same store.
      const other = openDb(join(fleet.dataDir, 'wasmfleet.db'));
      const now = Date.now();
      other
        .prepare(
          `INSERT INTO rollouts (id, created_ms, kind, module, version, manifest_digest, selector, policy, state, reason, wave, expires, updated_ms)
           VALUES ('r-open', ?, 'rollout', 'app', '1.0.0', 'd', '{}', ?, 'paused', 'OPERATOR', 0, ?, ?)`,
        )
        .run(now, JSON.stringify({ waves: [{ percent: 100 }], soakSeconds: 0 }), Math.floor(now / 1000) + 3600, now);
      other.close();
      const res = await fetch(`${fleet.server.httpUrl}/v1/rollouts/r-open/events`, { headers: { authorization: `Bearer ${fleet.server.operatorToken}` } });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: snapshot')) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`the stream ended before its first snapshot: ${text}`);
        text += new TextDecoder().decode(value);
      }
      expect(text).toContain('"state":"paused"');
      // Without the fix the close waits on the open stream for ever: it must win against a long timer.
      const closed = await Promise.race([fleet.server.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 30_000))]);
      expect(closed).toBe('closed');
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(text).not.toContain('event: end');
    } finally {
      await fleet.close();
    }
  }, 30_000);
});
