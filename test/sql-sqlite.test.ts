// What only SqliteSql has (the shared contract is test/sql-contract.test.ts): one connection,
// so transactions queue one behind the other.
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
