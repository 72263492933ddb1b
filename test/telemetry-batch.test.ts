// Telemetry batches on both stores: a flush of more rows than one statement carries writes every
// latest value once, and a later flush updates what is stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb } from '../server/store/db.js';
import { migratePostgres } from '../server/store/migrations.js';
import type { Sql } from '../server/store/sql.js';
import { PostgresSql } from '../server/store/sql-postgres.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch } from '../server/store/telemetry.js';
import { createDatabase } from './helpers/postgres.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const stores: Record<string, () => Promise<Sql>> = {
  async sqlite() {
    const dir = mkdtempSync(join(tmpdir(), 'wf-tel-'));
    const sql = new SqliteSql(openDb(join(dir, 'wasmfleet.db')));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => sql.close());
    return sql;
  },
  async postgres() {
    const db = await createDatabase();
    const sql = new PostgresSql(db.url);
    cleanup.push(() => db.drop(), () => sql.close());
    await migratePostgres(sql);
    return sql;
  },
};

describe.each(Object.keys(stores))('telemetry batch on %s', (store) => {
  it('250 values in one flush (several statements), then newer values for some of them', async () => {
    const sql = await stores[store]();
    for (let i = 0; i < 50; i++) await sql.run('INSERT INTO devices (id, token_hash, created_at) VALUES (?, ?, ?)', [`d${i}`, 'h', 1]);
    const batch = new TelemetryBatch(sql, pino({ level: 'silent' }), { ...TELEMETRY_BATCH_DEFAULTS, flushMs: 60_000, maxPending: 10_000 });
    cleanup.push(() => batch.close());
    for (let i = 0; i < 50; i++) for (let n = 0; n < 5; n++) batch.record(`d${i}`, `m${n}`, i + n / 10, 1000 + i);
    await batch.flush();
    expect(await sql.get('SELECT COUNT(*) AS n, SUM(at) AS at FROM telemetry')).toEqual({ n: 250, at: 5 * (50 * 1000 + (49 * 50) / 2) });
    expect(await sql.get('SELECT value FROM telemetry WHERE device_id = ? AND name = ?', ['d7', 'm3'])).toEqual({ value: 7.3 });

    batch.record('d7', 'm3', -1.5, 9999);
    batch.record('d8', 'new', 42, 9999);
    await batch.flush();
    expect(await sql.get('SELECT COUNT(*) AS n FROM telemetry')).toEqual({ n: 251 });
    expect(await sql.all('SELECT device_id AS d, name, value, at FROM telemetry WHERE at = 9999 ORDER BY device_id, name')).toEqual([
      { d: 'd7', name: 'm3', value: -1.5, at: 9999 },
      { d: 'd8', name: 'new', value: 42, at: 9999 },
    ]);
  });
});
