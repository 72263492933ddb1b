// The `Sql` contract (server/store/sql.ts) every store implementation keeps, run against both:
// SqliteSql on a real SQLite file and PostgresSql on the run's throwaway PostgreSQL cluster
// (test/helpers/postgres.ts). What only one of them has is tested in sql-sqlite / sql-postgres.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sql } from '../server/store/sql.js';
import { PostgresSql } from '../server/store/sql-postgres.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import { createDatabase } from './helpers/postgres.js';

interface Opened {
  sql: Sql & { close(): Promise<void> };
  dispose(): Promise<void>;
}

const implementations: Array<{ name: string; table: string; open(): Promise<Opened> }> = [
  {
    name: 'SqliteSql',
    table: 'CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, b BLOB, r REAL)',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'wf-sql-'));
      const sql = new SqliteSql(new Database(join(dir, 't.db')));
      return { sql, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgresSql',
    table: 'CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT, b BYTEA, r DOUBLE PRECISION)',
    async open() {
      const db = await createDatabase();
      return { sql: new PostgresSql(db.url), dispose: () => db.drop() };
    },
  },
];

describe.each(implementations)('$name keeps the Sql contract', (impl) => {
  let opened: Opened;
  let sql: Opened['sql'];
  beforeEach(async () => {
    opened = await impl.open();
    sql = opened.sql;
    await sql.run(impl.table);
  });
  afterEach(async () => {
    await sql.close();
    await opened.dispose();
  });

  it('maps values both ways: booleans to integers, bytes to Uint8Array, counts and sums to numbers, no row to undefined', async () => {
    await sql.run('INSERT INTO t (k, v, b, r) VALUES (?, ?, ?, ?)', ['a', true, new Uint8Array([1, 2]), 0.5]);
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['ms', 1_763_900_000_123]);
    const row = await sql.get<{ k: string; v: number; b: Uint8Array; r: number }>('SELECT * FROM t WHERE k = ?', ['a']);
    expect(row?.v).toBe(1);
    expect(row?.b).toBeInstanceOf(Uint8Array);
    expect([...(row?.b ?? [])]).toEqual([1, 2]);
    expect(row?.r).toBe(0.5);
    expect((await sql.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['ms']))?.v).toBe(1_763_900_000_123);
    expect(await sql.get('SELECT COUNT(*) AS n, SUM(v) AS s FROM t')).toEqual({ n: 2, s: 1_763_900_000_124 });
    expect(await sql.get('SELECT * FROM t WHERE k = ?', ['none'])).toBeUndefined();
    expect((await sql.run('UPDATE t SET v = 5')).changes).toBe(2);
    expect((await sql.run('UPDATE t SET v = 6 WHERE k = ?', ['none'])).changes).toBe(0);
  });

  it('a question mark inside a string literal is text, not a parameter', async () => {
    await sql.run("INSERT INTO t (k, v) VALUES ('why?', ?)", [7]);
    expect(await sql.all('SELECT k, v FROM t')).toEqual([{ k: 'why?', v: 7 }]);
  });

  it('a transaction that throws leaves nothing behind; one that resolves commits and returns its value', async () => {
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
        // Give the outside statement every chance to run inside this transaction if it could.
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    expect(await sql.all<{ k: string }>('SELECT k FROM t')).toEqual([{ k: 'outside' }]);
  });

  it('a failed statement inside a transaction rolls the whole transaction back, and the next one works', async () => {
    await sql.run("INSERT INTO t (k, v) VALUES ('dup', 1)");
    await expect(
      sql.tx(async (q) => {
        await q.run("INSERT INTO t (k, v) VALUES ('new', 1)");
        await q.run("INSERT INTO t (k, v) VALUES ('dup', 2)");
      }),
    ).rejects.toThrow(/unique|UNIQUE|duplicate/);
    expect(await sql.all('SELECT k, v FROM t')).toEqual([{ k: 'dup', v: 1 }]);
    await sql.tx((q) => q.run("INSERT INTO t (k, v) VALUES ('after', 3)"));
    expect(await sql.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 2 });
  });
});
