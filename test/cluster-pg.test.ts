// The two pieces several server instances share through PostgreSQL (docs/scale-out.md), against
// the run's real throwaway cluster: the leadership lock (taken by one, released when its session
// dies, taken over by another) and the change feed (LISTEN/NOTIFY: heard by the others, not by
// the sender, in order, and a listener that lost its connection is told to resync).
import pg from 'pg';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalChangeBus, LocalChangeFeed, PgChangeFeed, type Change } from '../server/cluster/change-feed.js';
import { LEADER_LOCK, PgLeadership } from '../server/cluster/leadership.js';
import { createDatabase, type TestDatabase } from './helpers/postgres.js';
import { waitFor } from './helpers/server.js';

const log = pino({ level: 'silent' });

/** Kill the sessions of one application: what PostgreSQL does when their process dies. */
async function terminate(url: string, application: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [application]);
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

async function lockHolders(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query("SELECT COUNT(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())", [LEADER_LOCK.classId, LEADER_LOCK.objectId]);
    return r.rows[0].n as number;
  } finally {
    await c.end();
  }
}

let db: TestDatabase;
beforeEach(async () => {
  db = await createDatabase('wfcl');
});
afterEach(async () => db.drop());

describe('leadership: a PostgreSQL advisory lock', () => {
  it('one instance takes it; when it closes, the other takes over within a retry or two', async () => {
    const a = await PgLeadership.start({ connectionString: db.url, log, retryMs: 200 });
    const b = await PgLeadership.start({ connectionString: db.url, log, retryMs: 200 });
    try {
      expect(a.leading).toBe(true);
      expect(b.leading).toBe(false);
      expect(await lockHolders(db.url)).toBe(1);
      const changes: boolean[] = [];
      b.onChange((l) => changes.push(l));
      await a.close();
      // How fast is a benchmark figure (bench-cluster.ts, docs/scale-out.md); here only that it happens.
      await waitFor('b leads', () => b.leading, 15_000);
      expect(changes).toEqual([true]);
      expect(a.leading).toBe(false);
      expect(await lockHolders(db.url)).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("the leader's session dies: it steps down, the follower takes over, and the old leader follows", async () => {
    const a = await PgLeadership.start({ connectionString: db.url, log, retryMs: 200 });
    expect(a.leading).toBe(true);
    const seenA: boolean[] = [];
    a.onChange((l) => seenA.push(l));
    const b = await PgLeadership.start({ connectionString: db.url, log, retryMs: 200 });
    try {
      expect(b.leading).toBe(false);
      // Both use the same application name; kill only the holder's session: the lock goes with it.
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const holder = await c.query(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [LEADER_LOCK.classId, LEADER_LOCK.objectId],
      );
      await c.query('SELECT pg_terminate_backend($1)', [holder.rows[0].pid]);
      await c.end();
      await waitFor('a steps down', () => !a.leading, 15_000);
      await waitFor('b leads', () => b.leading, 15_000);
      expect(seenA).toEqual([false]);
      // a reconnects and keeps trying, but b holds the lock: exactly one leader
      await new Promise((r) => setTimeout(r, 600));
      expect([a.leading, b.leading]).toEqual([false, true]);
      expect(await lockHolders(db.url)).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('change feed', () => {
  it('LISTEN/NOTIFY: heard by the other instance in order, not echoed to the sender', async () => {
    const a = await PgChangeFeed.start({ connectionString: db.url, log });
    const b = await PgChangeFeed.start({ connectionString: db.url, log });
    try {
      const atA: Change[] = [];
      const atB: Change[] = [];
      a.subscribe((c) => atA.push(c));
      b.subscribe((c) => atB.push(c));
      a.publish({ kind: 'credentials', key: 'dev-1' });
      a.publish({ kind: 'tokens' });
      // a burst bigger than one NOTIFY payload arrives whole and in order
      for (let i = 0; i < 2000; i++) a.publish({ kind: 'device', key: `dev-${i}`, why: 'report' });
      await waitFor('all heard by b', () => atB.length === 2002, 10_000);
      expect(atB.slice(0, 2)).toEqual([{ kind: 'credentials', key: 'dev-1' }, { kind: 'tokens' }]);
      expect(atB.slice(2).map((c) => (c as { key: string }).key)).toEqual(Array.from({ length: 2000 }, (_, i) => `dev-${i}`));
      b.publish({ kind: 'rollout', key: 'ro-1' });
      await waitFor('a hears b', () => atA.length === 1);
      expect(atA).toEqual([{ kind: 'rollout', key: 'ro-1' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a listener that lost its connection reconnects, is told to resync, and hears later changes', async () => {
    const a = await PgChangeFeed.start({ connectionString: db.url, log });
    const b = await PgChangeFeed.start({ connectionString: db.url, log, reconnectMs: 100 });
    try {
      const atB: Change[] = [];
      b.subscribe((c) => atB.push(c));
      expect(await terminate(db.url, `wasmfleet-changes-${b.instanceId}`)).toBe(1);
      await waitFor('b resyncs', () => atB.some((c) => c.kind === 'resync'), 5000);
      a.publish({ kind: 'credentials', key: 'after' });
      await waitFor('b hears the next change', () => atB.some((c) => c.kind === 'credentials'), 5000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('in-process feeds on one bus behave the same way (SQLite, or several instances in one process)', async () => {
    const bus = new LocalChangeBus();
    const a = new LocalChangeFeed(bus);
    const b = new LocalChangeFeed(bus);
    const atA: Change[] = [];
    const atB: Change[] = [];
    a.subscribe((c) => atA.push(c));
    b.subscribe((c) => atB.push(c));
    a.publish({ kind: 'credentials', key: 'd' });
    await waitFor('b hears', () => atB.length === 1);
    expect(atB).toEqual([{ kind: 'credentials', key: 'd' }]);
    expect(atA).toEqual([]);
    await a.close();
    await b.close();
  });
});
