// The embedded store: one SQLite file (better-sqlite3, WAL) for metadata. Image bytes live in
// the content-addressed blob directory (blobs.ts). Migrations are an ordered list; a database
// records how many it has applied.
import Database from 'better-sqlite3';
import type { SqlRunner } from './sql.js';

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     token_hash TEXT NOT NULL,
     tags TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL,
     online INTEGER NOT NULL DEFAULT 0,
     last_seen INTEGER,
     hello TEXT,
     state TEXT NOT NULL DEFAULT 'idle',
     reason TEXT,
     detail TEXT,
     sequence INTEGER NOT NULL DEFAULT 0,
     target_sequence INTEGER,
     running TEXT NOT NULL DEFAULT '[]',
     progress_bytes INTEGER,
     progress_total INTEGER,
     report_time INTEGER,
     last_error TEXT
   );
   CREATE TABLE modules (
     name TEXT NOT NULL,
     version TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     size INTEGER NOT NULL,
     manifest BLOB NOT NULL,
     manifest_digest TEXT NOT NULL UNIQUE,
     capabilities TEXT NOT NULL,
     max_pages INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (name, version)
   );
   CREATE TABLE directives (
     device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
     sequence INTEGER NOT NULL,
     issued_at INTEGER NOT NULL,
     expires INTEGER NOT NULL,
     deployment TEXT NOT NULL,
     bundle BLOB NOT NULL,
     PRIMARY KEY (device_id, sequence)
   );
   CREATE TABLE directive_images (
     device_id TEXT NOT NULL,
     sequence INTEGER NOT NULL,
     component TEXT NOT NULL,
     version TEXT NOT NULL,
     manifest_digest TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     PRIMARY KEY (device_id, sequence, component)
   );
   CREATE INDEX directive_images_blob ON directive_images(device_id, sha256);
   CREATE TABLE deployments (
     id TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     module TEXT NOT NULL,
     version TEXT NOT NULL,
     selector TEXT NOT NULL,
     device_count INTEGER NOT NULL
   );
   CREATE TABLE commits (
     device_id TEXT NOT NULL,
     sequence INTEGER NOT NULL,
     component TEXT NOT NULL,
     version TEXT NOT NULL,
     manifest_digest TEXT NOT NULL,
     at INTEGER NOT NULL,
     PRIMARY KEY (device_id, sequence, component)
   );
   CREATE TABLE telemetry (
     device_id TEXT NOT NULL,
     name TEXT NOT NULL,
     value REAL NOT NULL,
     at INTEGER NOT NULL,
     PRIMARY KEY (device_id, name)
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     action TEXT NOT NULL,
     detail TEXT NOT NULL
   );`,
  // Staged rollouts (docs/rollouts.md). Times in milliseconds (the rate cap needs them).
  // `active` marks the one membership per device that the engine still drives: the partial
  // unique index is what makes "one active rollout per device" hold even under races.
  `CREATE TABLE rollouts (
     id TEXT PRIMARY KEY,
     created_ms INTEGER NOT NULL,
     kind TEXT NOT NULL,
     module TEXT NOT NULL,
     version TEXT NOT NULL,
     manifest_digest TEXT NOT NULL,
     selector TEXT NOT NULL,
     policy TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT,
     wave INTEGER NOT NULL DEFAULT 0,
     wave_started_ms INTEGER,
     wave_settled_ms INTEGER,
     awaiting_approval INTEGER NOT NULL DEFAULT 0,
     rate_tat_ms INTEGER NOT NULL DEFAULT 0,
     expires INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL
   );
   CREATE INDEX rollouts_state ON rollouts(state);
   CREATE TABLE rollout_authorizations (
     rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
     manifest_digest TEXT NOT NULL,
     component TEXT NOT NULL,
     expires INTEGER NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (rollout_id, manifest_digest)
   );
   CREATE TABLE rollout_devices (
     rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
     device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
     active INTEGER NOT NULL DEFAULT 1,
     state TEXT NOT NULL,
     reason TEXT,
     detail TEXT,
     wave INTEGER,
     attempt INTEGER NOT NULL DEFAULT 0,
     sequence INTEGER,
     assigned_ms INTEGER,
     deadline_ms INTEGER,
     from_version TEXT,
     from_digest TEXT,
     joined_ms INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL,
     PRIMARY KEY (rollout_id, device_id)
   );
   CREATE UNIQUE INDEX rollout_devices_one_active ON rollout_devices(device_id) WHERE active = 1;
   CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);
   CREATE INDEX rollout_devices_state ON rollout_devices(rollout_id, state, joined_ms);
   CREATE INDEX rollout_devices_deadline ON rollout_devices(deadline_ms) WHERE deadline_ms IS NOT NULL;
   CREATE INDEX rollout_devices_assigned ON rollout_devices(rollout_id, assigned_ms);
   ALTER TABLE audit ADD COLUMN rollout_id TEXT;
   ALTER TABLE audit ADD COLUMN kind TEXT NOT NULL DEFAULT 'operator';
   ALTER TABLE audit ADD COLUMN reason TEXT;
   CREATE INDEX audit_rollout ON audit(rollout_id, id);
   CREATE INDEX audit_at ON audit(at, id);
   ALTER TABLE devices ADD COLUMN owed_sequence INTEGER;
   UPDATE devices SET owed_sequence = (SELECT MAX(sequence) FROM directives WHERE device_id = devices.id);
   CREATE INDEX devices_owed ON devices(id) WHERE owed_sequence > sequence;`,
  // Operator access (docs/security.md §operator tokens): tokens with roles, stored as SHA-256 hashes;
  // each audit entry names the token that acted ("<id> <name>", NULL for the server itself).
  `CREATE TABLE operator_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     role TEXT NOT NULL,
     token_hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   ALTER TABLE audit ADD COLUMN actor TEXT;`,
  // Device certificates (docs/security.md §transport): the current certificate's serial, and
  // every serial taken back by a revocation or a rotation (the CRL is built from them).
  `ALTER TABLE devices ADD COLUMN cert_serial TEXT;
   ALTER TABLE devices ADD COLUMN cert_not_after INTEGER;
   ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
   CREATE TABLE revoked_certs (
     serial TEXT PRIMARY KEY,
     device_id TEXT NOT NULL,
     revoked_at INTEGER NOT NULL
   );`,
];

export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode is durable against process crashes (what we promise); FULL adds an fsync per commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const applied = db.pragma('user_version', { simple: true }) as number;
  for (let i = applied; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i]);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
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

export interface AuditEntry {
  id: number;
  at: number;
  action: string;
  kind: string;
  rollout: string | null;
  reason: string | null;
  /** "<token id> <token name>" of the operator who acted; null for the server's own decisions. */
  actor: string | null;
  detail: Record<string, unknown>;
}

/** Audit entries in order, filtered by rollout and time (seconds), at most `limit`. */
export async function readAudit(q: SqlRunner, f: { rollout?: string; since?: number; after?: number; limit?: number }): Promise<AuditEntry[]> {
  const byRollout = f.rollout !== undefined;
  const rows = await q.all<{
    id: number;
    at: number;
    action: string;
    kind: string;
    rollout_id: string | null;
    reason: string | null;
    actor: string | null;
    detail: string;
  }>(
    `SELECT id, at, action, kind, rollout_id, reason, actor, detail FROM audit
     WHERE ${byRollout ? 'rollout_id = ? AND ' : ''}at >= ? AND id > ?
     ORDER BY id LIMIT ?`,
    [...(byRollout ? [f.rollout!] : []), f.since ?? 0, f.after ?? 0, f.limit ?? 1000],
  );
  return rows.map((r) => ({ id: r.id, at: r.at, action: r.action, kind: r.kind, rollout: r.rollout_id, reason: r.reason, actor: r.actor, detail: JSON.parse(r.detail) as Record<string, unknown> }));
}
