// The store's in-memory caches (server/store/cache.ts) in front of a real SQLite store: filled
// from the store, dropped by the repositories' own writes, never bringing back what a write took
// away, and never reading outside the transaction they are asked from.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreCache } from '../server/store/cache.js';
import { openDb } from '../server/store/db.js';
import { DeviceRepo } from '../server/store/devices.js';
import { DirectiveRepo } from '../server/store/directives.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch } from '../server/store/telemetry.js';

let dir: string;
let sql: SqliteSql;
let telemetry: TelemetryBatch;
let devices: DeviceRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wf-cache-'));
  sql = new SqliteSql(openDb(join(dir, 'wasmfleet.db')));
  telemetry = new TelemetryBatch(sql, pino({ level: 'silent' }), TELEMETRY_BATCH_DEFAULTS);
  devices = new DeviceRepo(sql, telemetry);
});

afterEach(async () => {
  await telemetry.close();
  await sql.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A read of the store that answers only when `release` is called: a slow round trip. */
function slowRead() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reads = 0;
  const load = async (id: string) => {
    reads++;
    const row = await sql.get<{ token_hash: string }>('SELECT token_hash FROM devices WHERE id = ?', [id]);
    await gate;
    return row;
  };
  return { load, release, reads: () => reads };
}

describe('StoreCache', () => {
  it('a load that was in flight when its key was invalidated is returned to its caller but not kept', async () => {
    const [creds] = await devices.create([{ id: 'dev-1' }]);
    const slow = slowRead();
    const cache = new StoreCache(slow.load);
    const inFlight = cache.get('dev-1'); // reads the password hash as it is now
    await devices.rotate('dev-1'); // the write lands while the read is on its way back
    cache.invalidate('dev-1');
    slow.release();
    const before = await inFlight;
    expect(before?.token_hash).toHaveLength(64);
    expect(cache.peek('dev-1')).toBeUndefined(); // the old hash is not kept
    const now = await cache.get('dev-1');
    expect(now?.token_hash).not.toBe(before?.token_hash);
    expect(creds.password).toBeDefined();
  });

  it('concurrent misses of one key share one read; a full invalidation drops loads in flight too', async () => {
    await devices.create([{ id: 'dev-1' }]);
    const slow = slowRead();
    const cache = new StoreCache(slow.load);
    const a = cache.get('dev-1');
    const b = cache.get('dev-1');
    cache.invalidate();
    slow.release();
    expect((await a)?.token_hash).toBe((await b)?.token_hash);
    expect(slow.reads()).toBe(1);
    expect(cache.peek('dev-1')).toBeUndefined();
  });

  it('a miss asked from inside a transaction reads through it (the outer Sql would wait for that transaction)', async () => {
    await devices.create([{ id: 'dev-1' }]);
    const cache = new StoreCache((id: string, q = sql) => q.get<{ id: string }>('SELECT id FROM devices WHERE id = ?', [id]));
    let outside!: Promise<{ id: string } | undefined>;
    const inside = await sql.tx(async (q) => {
      outside = cache.get('dev-1'); // another caller's miss: its read waits for this transaction
      return cache.get('dev-1', q); // must not join that read: it would never return
    });
    expect(inside?.id).toBe('dev-1');
    expect((await outside)?.id).toBe('dev-1');
  });
});

describe('the repositories keep their caches right', () => {
  it('credentials: a revoked password is refused at once, a rotated one replaces the old', async () => {
    const [creds] = await devices.create([{ id: 'dev-1' }, { id: 'dev-2' }]);
    expect(await devices.checkCredentials('dev-1', creds.password!)).toBe(true); // now cached
    const rotated = await devices.rotate('dev-1');
    expect(await devices.checkCredentials('dev-1', creds.password!)).toBe(false);
    expect(await devices.checkCredentials('dev-1', rotated.password!)).toBe(true);
    await devices.revoke('dev-1');
    expect(await devices.checkCredentials('dev-1', rotated.password!)).toBe(false);
    expect(await devices.exists('dev-1')).toBe(false);
  });

  it('mayFetch: an image named by a directive stored elsewhere (another instance) is allowed; a stranger is not', async () => {
    const directives = new DirectiveRepo(sql);
    await devices.create([{ id: 'dev-1' }]);
    const image = 'ab'.repeat(32);
    expect(await directives.mayFetch('dev-1', image)).toBe(false); // the device's (empty) set is now cached
    // Written straight into the store, as another server instance would: this instance's cache never heard of it.
    await sql.run('INSERT INTO directive_images (device_id, sequence, component, version, manifest_digest, sha256) VALUES (?, ?, ?, ?, ?, ?)', [
      'dev-1',
      1,
      'counter',
      '1.0.0',
      'cd'.repeat(32),
      image,
    ]);
    expect(await directives.mayFetch('dev-1', image)).toBe(true);
    expect(await directives.mayFetch('dev-1', 'ef'.repeat(32))).toBe(false);
    expect(await directives.mayFetch('dev-2', image)).toBe(false);
  });

  it('mayFetch: a directive issued to a device not cached yet allows its image with no query; an older image is asked of the store', async () => {
    const directives = new DirectiveRepo(sql);
    await devices.create([{ id: 'dev-1' }]);
    const sign = (sha256: string) => () => ({ issuedAt: 1, expires: 2, deployment: 'd', bundle: new Uint8Array(1), images: [{ component: 'counter', version: '1.0.0', manifestDigest: 'cd'.repeat(32), sha256 }] });
    const older = 'ab'.repeat(32);
    const newer = '12'.repeat(32);
    await directives.issue(['dev-1'], sign(older));
    directives.allowed.invalidate(); // as after a restart: the device's images are not cached
    await directives.issue(['dev-1'], sign(newer));
    const reads: string[] = [];
    const all = sql.all.bind(sql);
    sql.all = (async (text: string, params?: never[]) => {
      reads.push(text);
      return all(text, params);
    }) as typeof sql.all;
    const get = sql.get.bind(sql);
    sql.get = (async (text: string, params?: never[]) => {
      reads.push(text);
      return get(text, params);
    }) as typeof sql.get;
    expect(await directives.mayFetch('dev-1', newer)).toBe(true);
    expect(reads).toEqual([]);
    expect(await directives.mayFetch('dev-1', older)).toBe(true); // not in the started set: the store says yes
    expect(reads.length).toBe(1);
    expect(await directives.mayFetch('dev-1', 'ef'.repeat(32))).toBe(false);
  });
});
