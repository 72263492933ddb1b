// The embedded store: one SQLite file (better-sqlite3, WAL) for metadata. Image bytes live in
// the content-addressed blob directory (blobs.ts). Migrations: migrations.ts (user_version).
import Database from 'better-sqlite3';
import { migrateSqlite } from './migrations.js';
import type { SqlRunner } from './sql.js';

export type Db = Database.Database;

export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode is durable against process crashes (what we promise); FULL adds an fsync per commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrateSqlite(db);
  return db;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Who acted: the operator token of the request (its id and name). */
export interface Actor {
  id: string;
  name: string;
}

/** Who decided and about what: an operator's request (with its token), or the rollout engine on its own. */
export interface AuditMeta {
  /** The operator token that acted; absent or null for what the server does on its own. */
  actor?: Actor | null;
  kind?: 'operator' | 'engine';
  rollout?: string;
  reason?: string;
  /** Seconds; the engine passes its own clock's time. */
  at?: number;
}

/** The single append point of the audit log; nothing updates or deletes its rows. */
export async function audit(q: SqlRunner, action: string, detail: Record<string, unknown>, meta: AuditMeta = {}): Promise<void> {
  await q.run('INSERT INTO audit (at, action, detail, rollout_id, kind, reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    meta.at ?? nowSeconds(),
    action,
    JSON.stringify(detail),
    meta.rollout ?? null,
    meta.kind ?? 'operator',
    meta.reason ?? null,
    meta.actor ? `${meta.actor.id} ${meta.actor.name}` : null,
  ]);
}

/** An audit row as the API shows it (protocol/views.ts). */
export type { AuditEntryView as AuditEntry } from '../../protocol/views.js';
