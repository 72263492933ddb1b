// The embedded store: one SQLite file (better-sqlite3, WAL) for metadata. Image bytes live in
// the content-addressed blob directory (blobs.ts). Migrations are an ordered list; a database
// records how many it has applied.
import Database from 'better-sqlite3';

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

/** The single append point of the audit log; `actor` is null for what the server does on its own. */
export function audit(db: Db, action: string, detail: Record<string, unknown>, actor: Actor | null): void {
  db.prepare('INSERT INTO audit (at, action, detail, actor) VALUES (?, ?, ?, ?)').run(
    nowSeconds(),
    action,
    JSON.stringify(detail),
    actor ? `${actor.id} ${actor.name}` : null,
  );
}
