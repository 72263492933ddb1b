// PostgresSql against a real PostgreSQL (the run's throwaway cluster, test/helpers/postgres.ts):
// what only a pool and a network bring (the shared contract is test/sql-contract.test.ts).
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WfError } from '../protocol/errors.js';
import { PostgresSql, toPostgresPlaceholders } from '../server/store/sql-postgres.js';
import { createDatabase, type TestDatabase } from './helpers/postgres.js';

describe('toPostgresPlaceholders', () => {
  it('numbers the placeholders and leaves strings, identifiers, dollar quotes and comments alone', () => {
    expect(toPostgresPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)')).toBe('SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)');
    expect(toPostgresPlaceholders("SELECT 'what?', 'it''s ?', \"col?\" FROM t WHERE k = ?")).toBe("SELECT 'what?', 'it''s ?', \"col?\" FROM t WHERE k = $1");
    expect(toPostgresPlaceholders('SELECT $$ ? $$, $tag$ ?? $tag$, ? -- why?\n, ? /* ? */')).toBe('SELECT $$ ? $$, $tag$ ?? $tag$, $1 -- why?\n, $2 /* ? */');
  });
});

describe('PostgresSql', () => {
  let db: TestDatabase;
  let sql: PostgresSql;
  beforeEach(async () => {
    db = await createDatabase();
    sql = new PostgresSql(db.url);
    await sql.run('CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT, b BYTEA, r DOUBLE PRECISION)');
  });
  afterEach(async () => {
    await sql.close();
    await db.drop();
  });

  it('refuses an integer a JS number cannot hold exactly, instead of returning a wrong one', async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['big', 2n ** 62n]);
    await expect(sql.get('SELECT v FROM t')).rejects.toThrow(/4611686018427387904 is beyond/);
  });

  it('transactions run side by side on their own connections, each seeing its own writes', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = sql.tx(async (q) => {
      await q.run("INSERT INTO t (k, v) VALUES ('a', 1)");
      await held;
      return q.all('SELECT k FROM t ORDER BY k');
    });
    // The second commits while the first is still open.
    const second = await sql.tx(async (q) => {
      await q.run("INSERT INTO t (k, v) VALUES ('b', 2)");
      return q.all('SELECT k FROM t ORDER BY k');
    });
    release();
    expect(second).toEqual([{ k: 'b' }]);
    // Read committed: the first sees the second's commit and its own row.
    expect(await first).toEqual([{ k: 'a' }, { k: 'b' }]);
  });
});

describe('PostgresSql when the database cannot be reached', () => {
  it('a refused connection is STORE_UNREACHABLE naming host, port and database, without the password', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s: Server = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const sql = new PostgresSql(`postgres://fleet:s3cret@127.0.0.1:${port}/fleetdb`);
    const err = await sql.ping().catch((e: unknown) => e);
    await sql.close();
    expect(err).toBeInstanceOf(WfError);
    expect((err as WfError).code).toBe('STORE_UNREACHABLE');
    expect((err as WfError).message).toContain(`fleet@127.0.0.1:${port}/fleetdb`);
    expect((err as WfError).message).toContain('ECONNREFUSED');
    expect((err as WfError).message).not.toContain('s3cret');
  });

  it('a database that does not exist is STORE_UNREACHABLE with its SQLSTATE', async () => {
    const db = await createDatabase();
    const url = new URL(db.url);
    url.pathname = '/no_such_db';
    const sql = new PostgresSql(url.toString());
    const err = await sql.ping().catch((e: unknown) => e);
    await sql.close();
    await db.drop();
    expect((err as WfError).code).toBe('STORE_UNREACHABLE');
    expect((err as WfError).message).toMatch(/\/no_such_db: 3D000 .*does not exist/);
  });
});
