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

export function audit(db: Db, action: string, detail: Record<string, unknown>): void {
  db.prepare('INSERT INTO audit (at, action, detail) VALUES (?, ?, ?)').run(nowSeconds(), action, JSON.stringify(detail));
}
