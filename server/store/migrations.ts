// Versioned schema migrations, one list for both stores: each migration has its version, a name,
// and its text in each dialect. A migration is never edited once released; a change of schema
// is a new one at the end, written twice (docs/architecture.md §store).
//
//   SQLite     PRAGMA user_version = the number applied (databases made before this file keep
//              working: versions 1–4 are the same steps they applied).
//   PostgreSQL the schema_migrations table, one row per version applied; pending ones run in one
//              transaction under pg_advisory_xact_lock, so instances starting together apply each once.
//
// Dialect twins: INTEGER → BIGINT (times in ms, sizes: SQLite's INTEGER is 64-bit), BLOB → BYTEA,
// REAL → DOUBLE PRECISION, AUTOINCREMENT → an identity column. Text columns are COLLATE "C" in
// PostgreSQL so ORDER BY sorts as SQLite does (by bytes), whatever the database's locale.
import type Database from 'better-sqlite3';
import type { PostgresSql } from './sql-postgres.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'devices, modules, directives, deployments, telemetry, audit',
    sqlite: `CREATE TABLE devices (
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
    // Module bytes live in the database here (the blobs table; SQLite keeps them as files next
    // to its database): every instance serves every image without a shared disk.
    postgres: `CREATE TABLE devices (
       id TEXT COLLATE "C" PRIMARY KEY,
       token_hash TEXT COLLATE "C" NOT NULL,
       tags TEXT COLLATE "C" NOT NULL DEFAULT '{}',
       created_at BIGINT NOT NULL,
       online BIGINT NOT NULL DEFAULT 0,
       last_seen BIGINT,
       hello TEXT COLLATE "C",
       state TEXT COLLATE "C" NOT NULL DEFAULT 'idle',
       reason TEXT COLLATE "C",
       detail TEXT COLLATE "C",
       sequence BIGINT NOT NULL DEFAULT 0,
       target_sequence BIGINT,
       running TEXT COLLATE "C" NOT NULL DEFAULT '[]',
       progress_bytes BIGINT,
       progress_total BIGINT,
       report_time BIGINT,
       last_error TEXT COLLATE "C"
     );
     CREATE TABLE modules (
       name TEXT COLLATE "C" NOT NULL,
       version TEXT COLLATE "C" NOT NULL,
       sha256 TEXT COLLATE "C" NOT NULL,
       size BIGINT NOT NULL,
       manifest BYTEA NOT NULL,
       manifest_digest TEXT COLLATE "C" NOT NULL UNIQUE,
       capabilities TEXT COLLATE "C" NOT NULL,
       max_pages BIGINT NOT NULL,
       created_at BIGINT NOT NULL,
       PRIMARY KEY (name, version)
     );
     CREATE TABLE directives (
       device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
       sequence BIGINT NOT NULL,
       issued_at BIGINT NOT NULL,
       expires BIGINT NOT NULL,
       deployment TEXT COLLATE "C" NOT NULL,
       bundle BYTEA NOT NULL,
       PRIMARY KEY (device_id, sequence)
     );
     CREATE TABLE directive_images (
       device_id TEXT COLLATE "C" NOT NULL,
       sequence BIGINT NOT NULL,
       component TEXT COLLATE "C" NOT NULL,
       version TEXT COLLATE "C" NOT NULL,
       manifest_digest TEXT COLLATE "C" NOT NULL,
       sha256 TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (device_id, sequence, component)
     );
     CREATE INDEX directive_images_blob ON directive_images(device_id, sha256);
     CREATE TABLE deployments (
       id TEXT COLLATE "C" PRIMARY KEY,
       created_at BIGINT NOT NULL,
       kind TEXT COLLATE "C" NOT NULL,
       module TEXT COLLATE "C" NOT NULL,
       version TEXT COLLATE "C" NOT NULL,
       selector TEXT COLLATE "C" NOT NULL,
       device_count BIGINT NOT NULL
     );
     CREATE TABLE commits (
       device_id TEXT COLLATE "C" NOT NULL,
       sequence BIGINT NOT NULL,
       component TEXT COLLATE "C" NOT NULL,
       version TEXT COLLATE "C" NOT NULL,
       manifest_digest TEXT COLLATE "C" NOT NULL,
       at BIGINT NOT NULL,
       PRIMARY KEY (device_id, sequence, component)
     );
     CREATE TABLE telemetry (
       device_id TEXT COLLATE "C" NOT NULL,
       name TEXT COLLATE "C" NOT NULL,
       value DOUBLE PRECISION NOT NULL,
       at BIGINT NOT NULL,
       PRIMARY KEY (device_id, name)
     );
     CREATE TABLE audit (
       id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
       at BIGINT NOT NULL,
       action TEXT COLLATE "C" NOT NULL,
       detail TEXT COLLATE "C" NOT NULL
     );
     CREATE TABLE blobs (
       sha256 TEXT COLLATE "C" PRIMARY KEY,
       size BIGINT NOT NULL,
       bytes BYTEA NOT NULL
     );
     -- Module images hardly compress: store them as they are, without a compression attempt per write.
     ALTER TABLE blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;`,
  },
  {
    // Staged rollouts (docs/rollouts.md). Times in milliseconds (the rate cap needs them).
    // `active` marks the one membership per device that the engine still drives: the partial
    // unique index is what makes "one active rollout per device" hold even under races.
    version: 2,
    name: 'rollouts, members, authorizations, audit columns, owed sequence',
    sqlite: `CREATE TABLE rollouts (
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
    postgres: `CREATE TABLE rollouts (
       id TEXT COLLATE "C" PRIMARY KEY,
       created_ms BIGINT NOT NULL,
       kind TEXT COLLATE "C" NOT NULL,
       module TEXT COLLATE "C" NOT NULL,
       version TEXT COLLATE "C" NOT NULL,
       manifest_digest TEXT COLLATE "C" NOT NULL,
       selector TEXT COLLATE "C" NOT NULL,
       policy TEXT COLLATE "C" NOT NULL,
       state TEXT COLLATE "C" NOT NULL,
       reason TEXT COLLATE "C",
       wave BIGINT NOT NULL DEFAULT 0,
       wave_started_ms BIGINT,
       wave_settled_ms BIGINT,
       awaiting_approval BIGINT NOT NULL DEFAULT 0,
       rate_tat_ms BIGINT NOT NULL DEFAULT 0,
       expires BIGINT NOT NULL,
       updated_ms BIGINT NOT NULL
     );
     CREATE INDEX rollouts_state ON rollouts(state);
     CREATE TABLE rollout_authorizations (
       rollout_id TEXT COLLATE "C" NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
       manifest_digest TEXT COLLATE "C" NOT NULL,
       component TEXT COLLATE "C" NOT NULL,
       expires BIGINT NOT NULL,
       bytes BYTEA NOT NULL,
       PRIMARY KEY (rollout_id, manifest_digest)
     );
     CREATE TABLE rollout_devices (
       rollout_id TEXT COLLATE "C" NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
       device_id TEXT COLLATE "C" NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
       active BIGINT NOT NULL DEFAULT 1,
       state TEXT COLLATE "C" NOT NULL,
       reason TEXT COLLATE "C",
       detail TEXT COLLATE "C",
       wave BIGINT,
       attempt BIGINT NOT NULL DEFAULT 0,
       sequence BIGINT,
       assigned_ms BIGINT,
       deadline_ms BIGINT,
       from_version TEXT COLLATE "C",
       from_digest TEXT COLLATE "C",
       joined_ms BIGINT NOT NULL,
       updated_ms BIGINT NOT NULL,
       PRIMARY KEY (rollout_id, device_id)
     );
     CREATE UNIQUE INDEX rollout_devices_one_active ON rollout_devices(device_id) WHERE active = 1;
     CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);
     CREATE INDEX rollout_devices_state ON rollout_devices(rollout_id, state, joined_ms);
     CREATE INDEX rollout_devices_deadline ON rollout_devices(deadline_ms) WHERE deadline_ms IS NOT NULL;
     CREATE INDEX rollout_devices_assigned ON rollout_devices(rollout_id, assigned_ms);
     ALTER TABLE audit ADD COLUMN rollout_id TEXT COLLATE "C";
     ALTER TABLE audit ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'operator';
     ALTER TABLE audit ADD COLUMN reason TEXT COLLATE "C";
     CREATE INDEX audit_rollout ON audit(rollout_id, id);
     CREATE INDEX audit_at ON audit(at, id);
     ALTER TABLE devices ADD COLUMN owed_sequence BIGINT;
     UPDATE devices SET owed_sequence = (SELECT MAX(sequence) FROM directives WHERE device_id = devices.id);
     CREATE INDEX devices_owed ON devices(id) WHERE owed_sequence > sequence;`,
  },
  {
    // Operator access (docs/security.md §operator tokens): tokens with roles, stored as SHA-256 hashes;
    // each audit entry names the token that acted ("<id> <name>", NULL for the server itself).
    version: 3,
    name: 'operator tokens, audit actor',
    sqlite: `CREATE TABLE operator_tokens (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       role TEXT NOT NULL,
       token_hash TEXT NOT NULL UNIQUE,
       created_at INTEGER NOT NULL,
       revoked_at INTEGER
     );
     ALTER TABLE audit ADD COLUMN actor TEXT;`,
    postgres: `CREATE TABLE operator_tokens (
       id TEXT COLLATE "C" PRIMARY KEY,
       name TEXT COLLATE "C" NOT NULL,
       role TEXT COLLATE "C" NOT NULL,
       token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
       created_at BIGINT NOT NULL,
       revoked_at BIGINT
     );
     ALTER TABLE audit ADD COLUMN actor TEXT COLLATE "C";`,
  },
  {
    // Device certificates (docs/security.md §transport): the current certificate's serial, and
    // every serial taken back by a revocation or a rotation (the CRL is built from them).
    version: 4,
    name: 'device certificates, revoked serials',
    sqlite: `ALTER TABLE devices ADD COLUMN cert_serial TEXT;
     ALTER TABLE devices ADD COLUMN cert_not_after INTEGER;
     ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
     CREATE TABLE revoked_certs (
       serial TEXT PRIMARY KEY,
       device_id TEXT NOT NULL,
       revoked_at INTEGER NOT NULL
     );`,
    postgres: `ALTER TABLE devices ADD COLUMN cert_serial TEXT COLLATE "C";
     ALTER TABLE devices ADD COLUMN cert_not_after BIGINT;
     ALTER TABLE devices ADD COLUMN revoked_at BIGINT;
     CREATE TABLE revoked_certs (
       serial TEXT COLLATE "C" PRIMARY KEY,
       device_id TEXT COLLATE "C" NOT NULL,
       revoked_at BIGINT NOT NULL
     );`,
  },
  {
    // The web console (docs/console.md): browser sessions (only the SHA-256 of the session id is
    // stored), a bounded history of each device's reports, a bounded ring of recent telemetry values
    // per device and name, the host kind of the hello as a column, and the indexes the console's
    // filters and counts need at fleet size (devices_summary: the fleet page's counts from the index alone).
    // PostgreSQL leaves tags and running out of its indexes: a B-tree entry is limited to about
    // 2.7 KB and a device's tags may be longer; its planner counts from the heap instead.
    version: 5,
    name: 'console sessions, device events, telemetry series, host kind, console indexes',
    sqlite: `CREATE TABLE operator_sessions (
       id_hash TEXT PRIMARY KEY,
       token_id TEXT NOT NULL,
       csrf TEXT NOT NULL,
       created_ms INTEGER NOT NULL,
       seen_ms INTEGER NOT NULL,
       expires_ms INTEGER NOT NULL
     );
     CREATE INDEX operator_sessions_token ON operator_sessions(token_id);
     CREATE INDEX operator_sessions_expires ON operator_sessions(expires_ms);
     CREATE TABLE device_events (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL,
       at_ms INTEGER NOT NULL,
       state TEXT NOT NULL,
       reason TEXT,
       detail TEXT,
       sequence INTEGER NOT NULL,
       target_sequence INTEGER,
       releases TEXT NOT NULL
     );
     CREATE INDEX device_events_device ON device_events(device_id, id);
     CREATE TABLE telemetry_series (
       device_id TEXT NOT NULL,
       name TEXT NOT NULL,
       slot INTEGER NOT NULL,
       value REAL NOT NULL,
       at_ms INTEGER NOT NULL,
       PRIMARY KEY (device_id, name, slot)
     );
     CREATE INDEX telemetry_series_at ON telemetry_series(at_ms);
     ALTER TABLE devices ADD COLUMN host_kind TEXT;
     UPDATE devices SET host_kind = CASE WHEN hello LIKE '{"host":"v8",%' THEN 'v8' WHEN hello LIKE '{"host":"wasm3",%' THEN 'wasm3'
       WHEN hello LIKE '{"host":"wamr",%' THEN 'wamr' END WHERE hello IS NOT NULL;
     CREATE INDEX devices_state ON devices(state, id);
     CREATE INDEX devices_online ON devices(online, id);
     CREATE INDEX devices_host ON devices(host_kind, online, id);
     CREATE INDEX devices_summary ON devices(state, online, host_kind, running);
     CREATE INDEX devices_tags ON devices(tags);
     CREATE INDEX commits_component ON commits(component, device_id, at, sequence, version);
     CREATE INDEX audit_action ON audit(action, id);
     CREATE INDEX audit_actor ON audit(actor, id);`,
    postgres: `CREATE TABLE operator_sessions (
       id_hash TEXT COLLATE "C" PRIMARY KEY,
       token_id TEXT COLLATE "C" NOT NULL,
       csrf TEXT COLLATE "C" NOT NULL,
       created_ms BIGINT NOT NULL,
       seen_ms BIGINT NOT NULL,
       expires_ms BIGINT NOT NULL
     );
     CREATE INDEX operator_sessions_token ON operator_sessions(token_id);
     CREATE INDEX operator_sessions_expires ON operator_sessions(expires_ms);
     CREATE TABLE device_events (
       id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
       device_id TEXT COLLATE "C" NOT NULL,
       at_ms BIGINT NOT NULL,
       state TEXT COLLATE "C" NOT NULL,
       reason TEXT COLLATE "C",
       detail TEXT COLLATE "C",
       sequence BIGINT NOT NULL,
       target_sequence BIGINT,
       releases TEXT COLLATE "C" NOT NULL
     );
     CREATE INDEX device_events_device ON device_events(device_id, id);
     CREATE TABLE telemetry_series (
       device_id TEXT COLLATE "C" NOT NULL,
       name TEXT COLLATE "C" NOT NULL,
       slot BIGINT NOT NULL,
       value DOUBLE PRECISION NOT NULL,
       at_ms BIGINT NOT NULL,
       PRIMARY KEY (device_id, name, slot)
     );
     CREATE INDEX telemetry_series_at ON telemetry_series(at_ms);
     ALTER TABLE devices ADD COLUMN host_kind TEXT COLLATE "C";
     UPDATE devices SET host_kind = CASE WHEN hello LIKE '{"host":"v8",%' THEN 'v8' WHEN hello LIKE '{"host":"wasm3",%' THEN 'wasm3'
       WHEN hello LIKE '{"host":"wamr",%' THEN 'wamr' END WHERE hello IS NOT NULL;
     CREATE INDEX devices_state ON devices(state, id);
     CREATE INDEX devices_online ON devices(online, id);
     CREATE INDEX devices_host ON devices(host_kind, online, id);
     CREATE INDEX devices_summary ON devices(state, online, host_kind);
     CREATE INDEX commits_component ON commits(component, device_id, at, sequence, version);
     CREATE INDEX audit_action ON audit(action, id);
     CREATE INDEX audit_actor ON audit(actor, id);`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Apply what a SQLite database lacks, each migration in its own transaction; returns the versions applied. */
export function migrateSqlite(db: Database.Database): number[] {
  const applied = db.pragma('user_version', { simple: true }) as number;
  const done: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= applied) continue;
    db.transaction(() => {
      db.exec(m.sqlite);
      db.pragma(`user_version = ${m.version}`);
    })();
    done.push(m.version);
  }
  return done;
}

/**
 * The advisory lock key that serializes migrations across instances ("wfmg"). Other keys of
 * wasmfleet's own (the rollout leader) must differ.
 */
export const MIGRATION_LOCK_KEY = 0x77666d67;

/**
 * Apply what a PostgreSQL database lacks, all in one transaction under the migration lock: an
 * instance that starts while another migrates waits, then finds nothing left to do. Returns the
 * versions this call applied.
 */
export async function migratePostgres(sql: PostgresSql): Promise<number[]> {
  const client = await sql.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const have = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const done: number[] = [];
      for (const m of MIGRATIONS) {
        if (have.has(m.version)) continue;
        // Without parameters, pg sends the text as one simple query: several statements run in order.
        await client.query(m.postgres);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        done.push(m.version);
      }
      await client.query('COMMIT');
      return done;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    }
  } finally {
    client.release(broken);
  }
}
