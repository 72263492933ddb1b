// PostgresSql against a real PostgreSQL (the run's throwaway cluster, test/helpers/postgres.ts):
// the same contract as test/sql-sqlite.test.ts, and what only a pool and a network bring.
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

  it('maps values both ways: booleans to integers, BIGINT and NUMERIC to numbers, BYTEA to bytes, no row to undefined', async () => {
    await sql.run('INSERT INTO t (k, v, b, r) VALUES (?, ?, ?, ?)', ['a', true, new Uint8Array([1, 2]), 0.5]);
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['ms', 1_763_900_000_123]);
    const row = await sql.get<{ k: string; v: number; b: Uint8Array; r: number }>('SELECT * FROM t WHERE k = ?', ['a']);
    expect(row?.v).toBe(1);
    expect(row?.b).toBeInstanceOf(Uint8Array);
    expect([...(row?.b ?? [])]).toEqual([1, 2]);
    expect(row?.r).toBe(0.5);
    expect((await sql.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['ms']))?.v).toBe(1_763_900_000_123);
    // COUNT is BIGINT and SUM of BIGINT is NUMERIC in PostgreSQL: both come back as numbers, as in SQLite.
    expect(await sql.get('SELECT COUNT(*) AS n, SUM(v) AS s FROM t')).toEqual({ n: 2, s: 1_763_900_000_124 });
    expect(await sql.get('SELECT * FROM t WHERE k = ?', ['none'])).toBeUndefined();
    expect((await sql.run('UPDATE t SET v = 5')).changes).toBe(2);
    expect((await sql.run('UPDATE t SET v = 6 WHERE k = ?', ['none'])).changes).toBe(0);
  });

  it('refuses an integer a JS number cannot hold exactly, instead of returning a wrong one', async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['big', 2n ** 62n]);
    await expect(sql.get('SELECT v FROM t')).rejects.toThrow(/4611686018427387904 is beyond/);
  });

  it('a question mark inside a string literal is text, not a parameter', async () => {
    await sql.run("INSERT INTO t (k, v) VALUES ('why?', ?)", [7]);
    expect(await sql.all('SELECT k, v FROM t')).toEqual([{ k: 'why?', v: 7 }]);
  });

  it('a transaction that throws leaves nothing behind; one that resolves commits', async () => {
    await expect(
      sql.tx(async (q) => {
        await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['x', 1]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await sql.all('SELECT * FROM t')).toEqual([]);
    expect(await sql.tx(async (q) => (await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['y', 2])).changes)).toBe(1);
    expect(await sql.all('SELECT k FROM t')).toEqual([{ k: 'y' }]);
  });

  it('a statement issued while a transaction awaits is not swept into it (nor lost by its rollback)', async () => {
    let outside!: Promise<unknown>;
    await expect(
      sql.tx(async (q) => {
        await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['inside', 1]);
        outside = sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['outside', 2]);
        await outside;
        // Not visible outside before the commit: another connection.
        expect(await sql.all('SELECT k FROM t')).toEqual([{ k: 'outside' }]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await sql.all<{ k: string }>('SELECT k FROM t')).toEqual([{ k: 'outside' }]);
  });

  it('a failed statement inside a transaction rolls the whole transaction back', async () => {
    await sql.run("INSERT INTO t (k, v) VALUES ('dup', 1)");
    const err = await sql
      .tx(async (q) => {
        await q.run("INSERT INTO t (k, v) VALUES ('new', 1)");
        await q.run("INSERT INTO t (k, v) VALUES ('dup', 2)");
      })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('23505');
    expect(await sql.all('SELECT k, v FROM t')).toEqual([{ k: 'dup', v: 1 }]);
    // The connection went back to the pool clean: the next transaction works.
    await sql.tx((q) => q.run("INSERT INTO t (k, v) VALUES ('after', 3)"));
    expect(await sql.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 2 });
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
