// Open the store the options name, migrated to the current schema: SQLite in the data dir (the
// embedded default: <data>/wasmfleet.db, blobs as files in <data>/blobs), or PostgreSQL with
// `--db postgres://…` (rows and blobs in the database). The rest of the server sees one Sql and
// one BlobStore either way.
import { join } from 'node:path';
import { WfError } from '../../protocol/errors.js';
import { FileBlobStore, type BlobStore } from './blobs.js';
import { PostgresBlobStore } from './blobs-postgres.js';
import { openDb } from './db.js';
import { migratePostgres } from './migrations.js';
import type { Sql } from './sql.js';
import { PostgresSql, postgresErrorOf } from './sql-postgres.js';
import { SqliteSql } from './sql-sqlite.js';
import { storeOp } from './store-errors.js';

export interface StoreOptions {
  dataDir: string;
  /** Absent: SQLite in the data dir. postgres://user@host:port/db (or postgresql://): PostgreSQL. */
  db?: string;
  /** Errors of idle PostgreSQL connections (the database restarted): logged, never fatal. */
  onIdleError?: (err: Error) => void;
}

export interface Store {
  sql: Sql;
  blobs: BlobStore;
  /** Where the store is, for logs: the SQLite file, or user@host:port/db. */
  where: string;
}

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//i.test(url);

export async function openStore(opts: StoreOptions): Promise<Store> {
  if (opts.db === undefined || opts.db === '') {
    const dbPath = join(opts.dataDir, 'wasmfleet.db');
    const sql = new SqliteSql(storeOp(dbPath, () => openDb(dbPath)));
    try {
      return { sql, blobs: new FileBlobStore(join(opts.dataDir, 'blobs')), where: dbPath };
    } catch (err) {
      await sql.close();
      throw err;
    }
  }
  // Not echoed: the URL may carry a password.
  if (!isPostgresUrl(opts.db)) throw new WfError('REQUEST_INVALID', '--db: expected a PostgreSQL URL, postgres://user@host:port/db');
  const sql = new PostgresSql(opts.db, { onIdleError: opts.onIdleError });
  try {
    await migratePostgres(sql);
  } catch (err) {
    await sql.close();
    throw postgresErrorOf(err, sql.where);
  }
  return { sql, blobs: new PostgresBlobStore(sql), where: sql.where };
}
