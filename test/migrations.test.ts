// Versioned migrations on both stores (server/store/migrations.ts): an existing SQLite data dir
// made by older code opens and migrates; PostgreSQL records what it applied and two instances
// starting together apply each migration once; both dialects end with the same tables.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { initKeys } from '../cli/commands/keys-init.js';
import { ApiClient } from '../cli/client.js';
import { startServer } from '../server/index.js';
import { MIGRATION_LOCK_KEY, MIGRATIONS, SCHEMA_VERSION, migratePostgres, migrateSqlite } from '../server/store/migrations.js';
import { PostgresSql } from '../server/store/sql-postgres.js';
import { createDatabase, type TestDatabase } from './helpers/postgres.js';
import { tempDir } from './helpers/server.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function freshPostgres(): Promise<{ db: TestDatabase; sql: PostgresSql }> {
  const db = await createDatabase();
  const sql = new PostgresSql(db.url);
  cleanup.push(() => db.drop(), () => sql.close());
  return { db, sql };
}

describe('SQLite migrations', () => {
  it('a data dir made by older code (schema 2) opens, migrates to the current schema and keeps its data', async () => {
    const dir = tempDir();
    const dataDir = join(dir, 'data');
    const keysDir = join(dir, 'keys');
    initKeys(keysDir);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dataDir);
    const old = new Database(join(dataDir, 'wasmfleet.db'));
    old.exec(readFileSync('test/fixtures/store-sqlite-v2.sql', 'utf8'));
    expect(old.pragma('user_version', { simple: true })).toBe(2);
    old.close();
    writeFileSync(join(dataDir, 'operator-token'), 'old-token\n');

    const server = await startServer({ dataDir, keysDir, httpPort: 0, mqttPort: 0, wsPort: false, log: false });
    cleanup.push(() => server.close());
    const api = new ApiClient({ server: server.httpUrl, token: server.operatorToken });
    const device = await api.get<{ id: string; tags: Record<string, string>; state: string; sequence: number }>('/v1/devices/pump-1');
    expect(device).toMatchObject({ id: 'pump-1', tags: { site: 'north' }, state: 'committed', sequence: 2 });
    const { modules } = await api.get<{ modules: Array<{ name: string; version: string }> }>('/v1/modules');
    expect(modules.map((m) => `${m.name}@${m.version}`)).toEqual(['counter@1.0.0']);
    const { entries } = await api.get<{ entries: Array<{ action: string; actor: string | null }> }>('/v1/audit');
    expect(entries[0]).toMatchObject({ action: 'deploy', actor: null });
    // What migrations 3 and 4 added works on the old data: tokens (3).
    const { token } = await api.post<{ token: string }>('/v1/tokens', { name: 'ci', role: 'viewer' });
    expect(token).toBeTruthy();
    await server.close();
    cleanup.pop();

    const db = new Database(join(dataDir, 'wasmfleet.db'));
    cleanup.push(() => db.close());
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM pragma_table_info('devices') WHERE name = 'cert_serial'").get()).toEqual({ name: 'cert_serial' });
  });

  it('a current database is left as it is', () => {
    const db = new Database(':memory:');
    expect(migrateSqlite(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(migrateSqlite(db)).toEqual([]);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });
});

describe('PostgreSQL migrations', () => {
  it('a fresh database gets every migration, recorded with its name; a second start applies nothing', async () => {
    const { sql } = await freshPostgres();
    expect(await migratePostgres(sql)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await sql.all('SELECT version, name FROM schema_migrations ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    expect(await migratePostgres(sql)).toEqual([]);
  });

  it('two instances starting at once: each migration is applied once, neither fails', async () => {
    const { db, sql } = await freshPostgres();
    const other = new PostgresSql(db.url);
    cleanup.push(() => other.close());
    const [a, b] = await Promise.all([migratePostgres(sql), migratePostgres(other)]);
    // One did all the work, the other waited for the lock and found nothing left.
    expect([a, b].map((x) => x.length).sort()).toEqual([0, MIGRATIONS.length]);
    expect(await sql.get('SELECT COUNT(*) AS n FROM schema_migrations')).toEqual({ n: MIGRATIONS.length });
  });

  it('a migration waits while another instance holds the migration lock', async () => {
    const { db, sql } = await freshPostgres();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanup.push(() => holder.end());
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    let finished = false;
    const migrating = migratePostgres(sql).then((v) => ((finished = true), v));
    await new Promise((r) => setTimeout(r, 300));
    expect(finished).toBe(false);
    expect(await sql.get("SELECT to_regclass('devices') AS t")).toEqual({ t: null });
    await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    expect(await migrating).toHaveLength(MIGRATIONS.length);
  });

  it('one active rollout per device holds in PostgreSQL too (the partial unique index)', async () => {
    const { sql } = await freshPostgres();
    await migratePostgres(sql);
    await sql.run("INSERT INTO devices (id, token_hash, created_at) VALUES ('d1', 'h', 1)");
    for (const id of ['r1', 'r2', 'r3'])
      await sql.run(
        "INSERT INTO rollouts (id, created_ms, kind, module, version, manifest_digest, selector, policy, state, expires, updated_ms) VALUES (?, 1, 'deploy', 'm', '1', 'x', '{}', '{}', 'running', 9, 1)",
        [id],
      );
    const member = (rollout: string, active: number) =>
      sql.run("INSERT INTO rollout_devices (rollout_id, device_id, active, state, joined_ms, updated_ms) VALUES (?, 'd1', ?, 'pending', 1, 1)", [rollout, active]);
    await member('r1', 1);
    await member('r2', 0);
    const err = await member('r3', 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '23505', constraint: 'rollout_devices_one_active' });
  });
});

describe('both dialects', () => {
  it('end with the same tables, columns and indexes (PostgreSQL adds only its blobs and schema_migrations, and has no index on tags)', async () => {
    const lite = new Database(':memory:');
    cleanup.push(() => lite.close());
    migrateSqlite(lite);
    const liteTables = (lite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);
    const liteColumns = liteTables.flatMap((t) => (lite.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as Array<{ name: string }>).map((c) => `${t}.${c.name}`));
    const liteIndexes = (lite.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);

    const { sql } = await freshPostgres();
    await migratePostgres(sql);
    const pgColumns = (
      await sql.all<{ t: string; c: string }>("SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT IN ('blobs', 'schema_migrations')")
    ).map((r) => `${r.t}.${r.c}`);
    const pgIndexes = (await sql.all<{ n: string }>("SELECT indexname AS n FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'")).map((r) => r.n);

    expect(pgColumns.sort()).toEqual(liteColumns.sort());
    // Left out of PostgreSQL on purpose (migration 5): a B-tree entry there holds at most ~2.7 KB, and a device's tags may be longer.
    expect(pgIndexes.sort()).toEqual(liteIndexes.filter((i) => i !== 'devices_tags').sort());
  });
});
