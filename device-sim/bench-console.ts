// npm run bench, part 5: the web console's devices page at fleet size. For each fleet size, seeds
// the devices into a real SQLite store (bench-seed.ts: realistic hellos, tags, releases), starts a
// real fleet server on it, and times over HTTP (the CLI's client, cli/client.ts) one page of 50
// rows with its total — unfiltered, deep in the list, and with the console's filters — against
// baselines measured in the same run: GET /v1/health over the same connection path, and the
// page's indexed SELECT alone, in process. Also the fleet page's counts.
// Goal (issue 11): a page of 10,000 stored devices served in under 200 ms.
//
//   node dist/device-sim/bench-console.js [--devices 10000,100000] [--runs 15] [--json]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import type { DevicePageView } from '../protocol/views.js';
import { startServer } from '../server/index.js';
import { openDb } from '../server/store/db.js';
import { SqliteSql } from '../server/store/sql-sqlite.js';
import { seedDevices, type SeededRelease } from './bench-seed.js';

const argOf = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const sizes = (argOf('devices') ?? '10000,100000').split(',').map(Number);
const runs = Number(argOf('runs') ?? 15);
const json = process.argv.includes('--json');
const say = (s: string) => {
  if (!json) process.stdout.write(s + '\n');
};
const GOAL_MS = 200;

const RELEASES: SeededRelease[] = [
  { component: 'counter', version: '1.2.0', manifestDigest: 'a'.repeat(64) },
  { component: 'counter', version: '1.1.0', manifestDigest: 'b'.repeat(64) },
  { component: 'counter', version: '1.0.0', manifestDigest: 'c'.repeat(64) },
];

async function medianMs(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm: statement cache, JIT, connection
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return [...times].sort((a, b) => a - b)[times.length >> 1];
}

interface Row {
  devices: number;
  what: string;
  ms: number;
  vsHealth: number;
  vsSelect: number;
  total?: number;
}

async function benchSize(count: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-console-'));
  try {
    const keysDir = join(dir, 'keys');
    const dataDir = join(dir, 'data');
    initKeys(keysDir);
    const seedStart = Date.now();
    mkdirSync(dataDir, { recursive: true });
    const seeding = new SqliteSql(openDb(join(dataDir, 'wasmfleet.db')));
    await seedDevices(seeding, count, RELEASES, 'bench-console');
    await seeding.close();
    say(`\n${count.toLocaleString('en')} devices seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

    const server = await startServer({ dataDir, keysDir, httpPort: 0, mqttPort: 0, wsPort: 0, log: false, consoleDir: join(dir, 'no-console') });
    try {
      const api = new ApiClient({ server: server.httpUrl, token: server.operatorToken });
      // The page's SELECT alone, on its own connection to the same file: the floor under the HTTP figures.
      const ro = openDb(join(dataDir, 'wasmfleet.db'));
      const select = ro.prepare('SELECT id, tags, online, last_seen, state, reason, host_kind, running, last_error FROM devices ORDER BY id LIMIT 51');
      const selectMs = await medianMs(async () => select.all());
      ro.close();
      const healthMs = await medianMs(() => api.get('/v1/health'));
      const mid = `bench-${String(Math.floor(count / 2)).padStart(6, '0')}`;
      const cases: Array<[string, string]> = [
        ['page 1 (50 rows + total)', '/v1/devices?limit=50'],
        ['page in the middle (cursor)', `/v1/devices?limit=50&cursor=${mid}`],
        ['filter tag site=plant-c', '/v1/devices?limit=50&tag=site%3Dplant-c'],
        ['filter host=wasm3 & online', '/v1/devices?limit=50&host=wasm3&online=true'],
        ['filter release counter@1.1.0', '/v1/devices?limit=50&release=counter%401.1.0'],
        ['search id "0042"', '/v1/devices?limit=50&q=0042'],
        ['filter state=failed (none)', '/v1/devices?limit=50&state=failed'],
      ];
      const rows: Row[] = [
        { devices: count, what: 'baseline: indexed SELECT of 51 rows (in process)', ms: selectMs, vsHealth: selectMs / healthMs, vsSelect: 1 },
        { devices: count, what: 'baseline: GET /v1/health', ms: healthMs, vsHealth: 1, vsSelect: healthMs / selectMs },
      ];
      for (const [what, path] of cases) {
        const page = await api.get<DevicePageView>(path);
        const ms = await medianMs(() => api.get(path));
        rows.push({ devices: count, what, ms, vsHealth: ms / healthMs, vsSelect: ms / selectMs, total: page.total });
      }
      const fleetMs = await medianMs(() => api.get('/v1/console/fleet'));
      rows.push({ devices: count, what: 'fleet page counts (/v1/console/fleet)', ms: fleetMs, vsHealth: fleetMs / healthMs, vsSelect: fleetMs / selectMs });
      // One commit per device (bench-seed): the adoption chart reads all of them.
      const adoptionMs = await medianMs(() => api.get('/v1/console/adoption?module=counter'));
      rows.push({ devices: count, what: 'adoption chart (a commit per device)', ms: adoptionMs, vsHealth: adoptionMs / healthMs, vsSelect: adoptionMs / selectMs });
      for (const r of rows) {
        say(`  ${r.what.padEnd(50)} ${r.ms.toFixed(2).padStart(8)} ms  ×${r.vsHealth.toFixed(1).padStart(6)} health${r.total !== undefined ? `  (total ${r.total.toLocaleString('en')})` : ''}`);
      }
      return rows;
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  say(`console devices page over HTTP, median of ${runs} runs (goal: a page of 10,000 devices under ${GOAL_MS} ms)`);
  const all: Row[] = [];
  for (const n of sizes) all.push(...(await benchSize(n)));
  const pages = all.filter((r) => r.what.startsWith('page') || r.what.startsWith('filter') || r.what.startsWith('search'));
  const worst = (n: number) => Math.max(...pages.filter((r) => r.devices === n).map((r) => r.ms));
  for (const n of sizes) say(`${n.toLocaleString('en')} devices: slowest page ${worst(n).toFixed(1)} ms — ${worst(n) < GOAL_MS ? 'under' : 'OVER'} the ${GOAL_MS} ms goal`);
  if (json) process.stdout.write(JSON.stringify({ goalMs: GOAL_MS, runs, rows: all }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-console: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(4);
});
