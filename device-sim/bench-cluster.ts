// npm run bench (last part): the same deploy of a 64 KiB module to 1,000 simulated devices, twice
// in one run, so the second is a ratio to the first (docs/scale-out.md):
//   1. one instance on the embedded defaults (aedes + SQLite), as `wasmfleet server` starts;
//   2. two instances on PostgreSQL and mosquitto (--db, --broker, --broker-dynsec): the devices
//      are provisioned through one instance (onto mosquitto, by dynsec) and the deploy is made
//      through the other; the leader runs the engine, both answer chunk requests (shared subscription).
// PostgreSQL and mosquitto are throwaway ones (the test suite's helpers: Debian's packages).
// The fleet is bench.ts's fleet role (the same devices, chunk size and window).
//
//   node dist/device-sim/bench-cluster.js [--devices 1000] [--size 65536]
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { ServerOptions } from '../server/index.js';
import { arg, moduleOfSize, next, request, serverRole, type Msg } from './bench-ipc.js';

const CHUNK = 4096;
const self = fileURLToPath(import.meta.url);
const fleetScript = join(dirname(self), 'bench.js');
const log = (s: string) => process.stdout.write(s + '\n');

interface Run {
  onlineMs: number;
  deployMs: number;
  downloadedMs: number;
  committedMs: number;
  serverCpuS: number[];
  leaders: boolean[];
}

function startServerProcess(dir: string, extra: Partial<ServerOptions>): ChildProcess {
  return fork(self, ['--role', 'server', dir, JSON.stringify(extra)], { stdio: 'inherit' });
}

const cpuOf = (m: Msg) => {
  const c = m.cpu as NodeJS.CpuUsage;
  return (c.user + c.system) / 1e6;
};

/** Provision and boot the fleet through `provision`, deploy through `deploy`, time it to all committed. */
async function timeDeploy(dir: string, servers: ChildProcess[], provision: Msg, deploy: Msg, devices: number, size: number): Promise<Run> {
  const { ApiClient } = await import('../cli/client.js');
  const { publishModuleFile } = await import('../cli/commands/module-publish.js');
  const fleet = fork(fleetScript, ['--role', 'fleet', dir], { stdio: 'inherit', execArgv: ['--max-old-space-size=4096'] });
  try {
    const tBoot = performance.now();
    fleet.send({ type: 'config', httpUrl: provision.httpUrl, token: provision.token, devices, dir });
    await next(fleet, 'ready');
    const onlineMs = performance.now() - tBoot;
    const api = new ApiClient({ server: String(deploy.httpUrl), token: String(deploy.token) });
    const file = join(dir, 'bench.wat');
    writeFileSync(file, await moduleOfSize(size));
    await publishModuleFile(api, file, { name: 'bench', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: join(dir, 'keys') });

    const cpu0 = await Promise.all(servers.map((s) => request(s, { type: 'stats' }, 'stats')));
    const downloaded = next(fleet, 'downloaded');
    const committed = next(fleet, 'committed');
    fleet.send({ type: 'watch', release: 'bench@1.0.0' });
    const t0 = performance.now();
    await api.post('/v1/deployments', { module: 'bench', version: '1.0.0', tags: { bench: '1' } });
    const deployMs = performance.now() - t0;
    await downloaded;
    const downloadedMs = performance.now() - t0;
    await committed;
    const committedMs = performance.now() - t0;
    const cpu1 = await Promise.all(servers.map((s) => request(s, { type: 'stats' }, 'stats')));
    return { onlineMs, deployMs, downloadedMs, committedMs, serverCpuS: cpu1.map((c, i) => cpuOf(c) - cpuOf(cpu0[i]!)), leaders: cpu1.map((c) => c.leader === true) };
  } finally {
    const exited = new Promise((r) => fleet.once('exit', r));
    if (fleet.connected) fleet.send({ type: 'exit' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    fleet.kill();
  }
}

async function closeAll(servers: ChildProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => request(s, { type: 'close' }, 'closed').catch(() => s.kill())));
}

function report(label: string, r: Run, devices: number): void {
  log(`${label}:`);
  log(`  ${devices} devices provisioned, booted and online: ${(r.onlineMs / 1000).toFixed(1)} s`);
  log(`  deploy request: ${(r.deployMs / 1000).toFixed(2)} s; all downloaded + verified: ${(r.downloadedMs / 1000).toFixed(2)} s; all committed: ${(r.committedMs / 1000).toFixed(2)} s`);
  log(`  server CPU during the deploy: ${r.serverCpuS.map((c, i) => `${c.toFixed(2)} s${r.leaders.length > 1 ? (r.leaders[i] ? ' (leader)' : ' (follower)') : ''}`).join(', ')}`);
}

async function main(): Promise<void> {
  const devices = arg('devices', 1000);
  const size = arg('size', 65536);
  const { initKeys } = await import('../cli/commands/keys-init.js');
  const root = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-cluster-'));
  log(`${devices} devices, ${size} B module in ${CHUNK} B chunks: one embedded instance, then two instances on PostgreSQL + mosquitto`);

  // 1. the single-instance embedded baseline
  const single = join(root, 'single');
  mkdirSync(single);
  initKeys(join(single, 'keys'));
  const server = startServerProcess(single, {});
  let embedded: Run;
  try {
    const s = await next(server, 'ready');
    embedded = await timeDeploy(single, [server], s, s, devices, size);
  } finally {
    await closeAll([server]);
  }
  report('one instance, embedded aedes + SQLite', embedded, devices);

  // 2. two instances on PostgreSQL and mosquitto
  const { startPostgresCluster } = await import('../test/helpers/postgres.js');
  const { startMosquitto } = await import('../test/helpers/mosquitto.js');
  const cluster = await startPostgresCluster();
  const mosq = await startMosquitto({ dynsec: true });
  const two = join(root, 'two');
  mkdirSync(two);
  initKeys(join(two, 'keys'));
  const servers: ChildProcess[] = [];
  try {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const url = new URL(cluster.url);
    url.pathname = '/bench';
    const token = randomBytes(24).toString('base64url');
    const common = { db: url.toString(), brokerUrl: mosq.serverUrl, brokerDynsec: true, operatorToken: token };
    // One after the other: the first takes the lead (and creates the broker role), the second follows.
    servers.push(startServerProcess(two, { ...common, dataDir: join(two, 'a') }));
    const a = await next(servers[0]!, 'ready');
    servers.push(startServerProcess(two, { ...common, dataDir: join(two, 'b') }));
    const b = await next(servers[1]!, 'ready');
    const clustered = await timeDeploy(two, servers, b, a, devices, size);
    report('two instances, PostgreSQL + mosquitto (devices provisioned through the follower, deploy through the leader)', clustered, devices);
    const ratio = clustered.committedMs / embedded.committedMs;
    log(`ratio all-committed, two instances / one embedded: ${ratio.toFixed(2)}x (online: ${(clustered.onlineMs / embedded.onlineMs).toFixed(2)}x)`);
    process.stdout.write(JSON.stringify({ devices, size, embedded, clustered, ratio }) + '\n');
  } finally {
    await closeAll(servers);
    await mosq.stop();
    cluster.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const role = process.argv.indexOf('--role');
if (role > 0 && process.argv[role + 1] === 'server') {
  await serverRole(process.argv[role + 2]!, JSON.parse(process.argv[role + 3] ?? '{}') as Partial<ServerOptions>);
} else {
  await main();
  process.exit(0);
}
