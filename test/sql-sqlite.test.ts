import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteSql } from '../server/store/sql-sqlite.js';

describe('SqliteSql', () => {
  let dir: string;
  let sql: SqliteSql;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wf-sql-'));
    sql = new SqliteSql(new Database(join(dir, 't.db')));
    await sql.run('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, b BLOB)');
  });
  afterEach(async () => {
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('maps values both ways: booleans to integers, blobs to bytes, no row to undefined', async () => {
    await sql.run('INSERT INTO t VALUES (?, ?, ?)', ['a', true, new Uint8Array([1, 2])]);
    const row = await sql.get<{ k: string; v: number; b: Uint8Array }>('SELECT * FROM t WHERE k = ?', ['a']);
    expect(row?.v).toBe(1);
    expect([...(row?.b ?? [])]).toEqual([1, 2]);
    expect(await sql.get('SELECT * FROM t WHERE k = ?', ['none'])).toBeUndefined();
    expect((await sql.run('UPDATE t SET v = 5')).changes).toBe(1);
  });

  it('a transaction that throws leaves nothing behind', async () => {
    await expect(
      sql.tx(async (q) => {
        await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['x', 1]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await sql.all('SELECT * FROM t')).toEqual([]);
  });

  it("a statement issued while a transaction awaits is not swept into it (nor lost by its rollback)", async () => {
    let outside!: Promise<unknown>;
    await expect(
      sql.tx(async (q) => {
        await q.run('INSERT INTO t (k, v) VALUES (?, ?)', ['inside', 1]);
        outside = sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['outside', 2]);
        await new Promise((r) => setTimeout(r, 10));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await outside;
    expect(await sql.all<{ k: string }>('SELECT k FROM t')).toEqual([{ k: 'outside' }]);
  });

  it('transactions queue one behind the other', async () => {
    const order: string[] = [];
    const slow = sql.tx(async (q) => {
      order.push('a start');
      await new Promise((r) => setTimeout(r, 10));
      await q.run("INSERT INTO t (k, v) VALUES ('a', 1)");
      order.push('a end');
    });
    const fast = sql.tx(async (q) => {
      order.push('b start');
      await q.run("INSERT INTO t (k, v) VALUES ('b', 2)");
      order.push('b end');
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(['a start', 'a end', 'b start', 'b end']);
  });
});
