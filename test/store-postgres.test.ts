// The store on PostgreSQL as an operator meets it: module bytes in the blobs table (verified,
// repaired by the next upload, fetched once for many concurrent readers), and `wasmfleet server
// --db` refusing a database it cannot reach with a typed error and exit code 3, no stack trace.
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256, toHex } from '../protocol/crypto.js';
import { PostgresBlobStore } from '../server/store/blobs-postgres.js';
import { migratePostgres } from '../server/store/migrations.js';
import type { Sql, SqlValue } from '../server/store/sql.js';
import { PostgresSql } from '../server/store/sql-postgres.js';
import { createDatabase } from './helpers/postgres.js';
import { tempDir } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function migrated(): Promise<PostgresSql> {
  const db = await createDatabase();
  const sql = new PostgresSql(db.url);
  cleanup.push(() => db.drop(), () => sql.close());
  await migratePostgres(sql);
  return sql;
}

/** The same Sql, counting the statements that read blobs. */
function counting(sql: Sql): { sql: Sql; reads: () => number } {
  let reads = 0;
  const wrapped: Sql = {
    dialect: sql.dialect,
    all: (q, p) => sql.all(q, p),
    get: <T>(q: string, p?: readonly SqlValue[]) => {
      if (q.includes('FROM blobs')) reads++;
      return sql.get<T>(q, p);
    },
    run: (q, p) => sql.run(q, p),
    tx: (fn) => sql.tx(fn),
    close: () => sql.close(),
  };
  return { sql: wrapped, reads: () => reads };
}

describe('PostgresBlobStore', () => {
  it('stores bytes under their SHA-256 and gives back exactly them; the same bytes again change nothing', async () => {
    const sql = await migrated();
    const blobs = new PostgresBlobStore(sql);
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    const hex = await blobs.put(bytes);
    expect(hex).toBe(toHex(sha256(bytes)));
    expect(await blobs.put(bytes)).toBe(hex);
    expect(await sql.get('SELECT COUNT(*) AS n, MAX(size) AS size FROM blobs')).toEqual({ n: 1, size: 200_000 });
    // A second instance (no cache) reads it from the database.
    const other = new PostgresBlobStore(sql);
    expect(await other.has(hex)).toBe(true);
    expect(Buffer.from((await other.get(hex))!).equals(Buffer.from(bytes))).toBe(true);
    expect(await other.get('0'.repeat(64))).toBeUndefined();
    expect(await other.has('0'.repeat(64))).toBe(false);
    expect(await other.get('../../etc/passwd')).toBeUndefined();
  });

  it('a row whose bytes do not match its name is not served, and the next upload repairs it', async () => {
    const sql = await migrated();
    const bytes = new TextEncoder().encode('a module image');
    const hex = await new PostgresBlobStore(sql).put(bytes);
    await sql.run("UPDATE blobs SET bytes = decode('00', 'hex'), size = 1 WHERE sha256 = ?", [hex]);
    const reader = new PostgresBlobStore(sql);
    expect(await reader.get(hex)).toBeUndefined();
    await reader.put(bytes);
    expect(new TextDecoder().decode(await reader.get(hex))).toBe('a module image');
  });

  it('many readers of one image at once cost one query; later reads come from memory', async () => {
    const base = await migrated();
    const hex = await new PostgresBlobStore(base).put(new Uint8Array(65_536).fill(3));
    const { sql, reads } = counting(base);
    const blobs = new PostgresBlobStore(sql);
    const got = await Promise.all(Array.from({ length: 200 }, () => blobs.get(hex)));
    expect(got.every((b) => b?.length === 65_536)).toBe(true);
    expect(await blobs.get(hex)).toBe(got[0]);
    expect(reads()).toBe(1);
  });
});

describe('wasmfleet server --db', () => {
  async function cli(args: string[]) {
    try {
      const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, WASMFLEET_LOG: 'silent' } });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('a database that cannot be reached: STORE_UNREACHABLE naming it, exit code 3, no stack trace, no password', async () => {
    const dir = tempDir();
    await cli(['keys', 'init', '--dir', join(dir, 'keys')]);
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = await cli(['server', '--data', join(dir, 'data'), '--keys', join(dir, 'keys'), '--http-port', '0', '--mqtt-port', '0', '--no-ws', '--db', `postgres://fleet:hunter2@127.0.0.1:${port}/fleet`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error STORE_UNREACHABLE: the database cannot be reached: PostgreSQL at fleet@127.0.0.1:${port}/fleet: ECONNREFUSED`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('anything but a PostgreSQL URL is a usage error (exit code 2), not echoed', async () => {
    const r = await cli(['server', '--db', 'mysql://root:hunter2@db/fleet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a PostgreSQL URL');
    expect(r.stderr).not.toContain('hunter2');
  });
});
