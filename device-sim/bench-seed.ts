// Seeds a store with a large fleet for the rollout benchmark: devices with realistic hellos
// (host kinds, granted capabilities, memory, max chunk), tags, and the releases they run, written
// straight into SQLite in one transaction (the API would spend the time on credentials, not on
// what the benchmark measures).
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from '../server/store/sql.js';
import { seededRandom } from './faults.js';

export interface SeededRelease {
  component: string;
  version: string;
  manifestDigest: string;
}

const SITES = ['plant-a', 'plant-b', 'plant-c', 'plant-d', 'plant-e', 'plant-f', 'plant-g', 'plant-h'];
const HW = ['rev1', 'rev2', 'rev3'];
const HOSTS = [
  { host: 'wamr', share: 0.5, memory: [65536, 131072, 262144], maxChunk: [512, 1024, 2048], caps: ['clock', 'config', 'gpio', 'kv', 'log', 'telemetry'] },
  { host: 'wasm3', share: 0.2, memory: [262144, 524288], maxChunk: [2048, 4096], caps: ['clock', 'config', 'kv', 'log', 'sensor', 'telemetry'] },
  { host: 'v8', share: 0.3, memory: [1048576], maxChunk: [4096, 16384], caps: ['clock', 'config', 'gpio', 'kv', 'log', 'sensor', 'telemetry'] },
] as const;

const INSERT_DEVICE = `INSERT INTO devices (id, token_hash, tags, created_at, online, last_seen, hello, host_kind, state, sequence, running, report_time)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'committed', ?, ?, ?)`;
const INSERT_COMMIT = 'INSERT INTO commits (device_id, sequence, component, version, manifest_digest, at) VALUES (?, ?, ?, ?, ?, ?)';

/** Inserts `count` devices ("bench-000001"…), each running one of `releases` (the first 90%). */
export async function seedDevices(sql: Sql, count: number, releases: SeededRelease[], seed = 'bench-rollout'): Promise<void> {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const tokenHash = createHash('sha256').update(randomBytes(32)).digest('hex');
  const now = Math.floor(Date.now() / 1000);
  await sql.tx(async (q) => {
    for (let i = 1; i <= count; i++) {
      const id = `bench-${String(i).padStart(6, '0')}`;
      const r = rnd();
      const kind = r < HOSTS[0].share ? HOSTS[0] : r < HOSTS[0].share + HOSTS[1].share ? HOSTS[1] : HOSTS[2];
      const release = rnd() < 0.9 ? releases[0] : pick(releases);
      const running = [{ component: release.component, version: release.version, manifestDigest: release.manifestDigest }];
      const hello = { host: kind.host, abi: 1, capabilities: [...kind.caps], maxChunk: pick(kind.maxChunk), memory: pick(kind.memory), agent: `${kind.host}-host/0.1.0`, running };
      const tags = { site: pick(SITES), hw: pick(HW), ring: rnd() < 0.05 ? 'canary' : 'stable' };
      const online = rnd() < 0.97 ? 1 : 0;
      await q.run(INSERT_DEVICE, [id, tokenHash, JSON.stringify(tags), now - 86400, online, now - Math.floor(rnd() * 600), JSON.stringify(hello), kind.host, 3, JSON.stringify(running), now]);
      await q.run(INSERT_COMMIT, [id, 3, release.component, release.version, release.manifestDigest, now - 3600]);
    }
  });
}
