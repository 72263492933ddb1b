// npm run bench (second part): the simulator's two Wasm engines side by side, each in its own
// process so their memory does not mix.
//  1. engine alone: N instances of examples/wat/counter.wat: RSS per instance, load+instantiate
//     time per instance, a wf_tick round trip, and a CPU-bound kernel (CRC-32 over 64 KiB per
//     call) in calls/s;
//  2. whole simulated devices: a fleet of M devices (agent, MQTT client, state dir, module) against
//     a server in another process, deployed counter 1.0.0 (a healthy module: every rollback is a
//     false one): fleet RSS per device, how many such devices fit in 4 GiB, and the rollbacks.
// Figures are printed with their ratio wasm3/v8 from the same run.
//
//   node dist/device-sim/bench-engines.js [--instances 2000] [--devices 1000] [--engines wasm3,v8]
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWat, loadModuleFile } from '../cli/wat.js';
import { sha256, toHex } from '../protocol/crypto.js';
import { createEngine } from './engine/select.js';
import type { HostEnv } from './host-abi.js';

const GiB = 1024 ** 3;
const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
type Msg = Record<string, unknown> & { type: string };
const send = (m: Msg) => process.send!(m);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

function next(child: ChildProcess, type: string): Promise<Msg> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (m: Msg) => {
      if (m.type === type) {
        child.off('message', onMessage);
        resolvePromise(m);
      } else if (m.type === 'error') reject(new Error(String(m.message)));
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before "${type}"`)));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CRC-32 (bitwise, no table) over 64 KiB of linear memory per wf_tick: pure interpreter work. */
const KERNEL = `(module (memory (export "memory") 1 1)
  (func (export "wf_init") (result i32) (i32.const 0))
  (func (export "wf_tick") (result i32) (local $i i32) (local $crc i32) (local $b i32)
    (local.set $crc (i32.const -1))
    (loop $bytes
      (local.set $crc (i32.xor (local.get $crc) (i32.load8_u (local.get $i))))
      (local.set $b (i32.const 8))
      (loop $bits
        (local.set $crc (i32.xor (i32.shr_u (local.get $crc) (i32.const 1))
          (i32.and (i32.const 0xEDB88320) (i32.sub (i32.const 0) (i32.and (local.get $crc) (i32.const 1))))))
        (br_if $bits (local.tee $b (i32.sub (local.get $b) (i32.const 1)))))
      (i32.store8 (local.get $i) (local.get $crc))
      (br_if $bytes (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 65536))))
    (i32.const 0)))`;

// ---------------------------------------------------------------- role: one engine, N instances

async function engineRole(kind: string, instances: number): Promise<void> {
  const { engine } = createEngine(kind, { workers: 2 });
  const counter = await loadModuleFile(resolve('examples/wat/counter.wat'));
  const env = (i: number): HostEnv => ({ seed: `bench/${i}`, capabilities: ['clock', 'config', 'kv', 'log', 'telemetry'], config: {}, kv: {}, clockOffsetMs: 0 });
  const key = toHex(sha256(counter));
  // Warm up: the first load compiles (V8) or pages in the interpreter (wasm3).
  // Workers up and running first (V8), so the first load below times compile + instantiate only.
  const kernelBytes = await compileWat(KERNEL);
  await (await engine.load(kernelBytes, { key: 'warm-up', env: env(-2), maxPages: 1, budgetMs: 2000 })).dispose();
  const tFirst = performance.now();
  await (await engine.load(counter, { key, env: env(-1), maxPages: 16, budgetMs: 2000 })).dispose();
  const firstLoadMs = performance.now() - tFirst;
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const loadMs: number[] = [];
  const live = [];
  for (let i = 0; i < instances; i++) {
    const t0 = performance.now();
    const inst = await engine.load(counter, { key, env: env(i), maxPages: 16, budgetMs: 2000 });
    loadMs.push(performance.now() - t0);
    await inst.call('wf_init', 1000);
    live.push(inst);
  }
  const tickMs: number[] = [];
  for (const inst of live) {
    const t0 = performance.now();
    const out = await inst.call('wf_tick', 1000);
    tickMs.push(performance.now() - t0);
    if (out.fault) throw new Error(`${kind}: wf_tick faulted: ${out.fault.code} ${out.fault.detail}`);
  }
  global.gc?.();
  const rss1 = process.memoryUsage().rss;

  const k = await engine.load(kernelBytes, { key: toHex(sha256(kernelBytes)), env: env(0), maxPages: 1, budgetMs: 2000 });
  await k.call('wf_init', 1000);
  let calls = 0;
  const tK = performance.now();
  while (performance.now() - tK < 3000) {
    const out = await k.call('wf_tick', 60_000);
    if (out.fault) throw new Error(`${kind}: kernel faulted: ${out.fault.code} ${out.fault.detail}`);
    calls++;
  }
  const kernelPerS = calls / ((performance.now() - tK) / 1000);
  await Promise.all(live.map((i) => i.dispose()));
  await engine.close();
  send({ type: 'engine', engine: engine.name, instances, firstLoadMs, rssPerInstance: (rss1 - rss0) / instances, loadMedianMs: median(loadMs), loadMeanMs: loadMs.reduce((a, b) => a + b, 0) / instances, tickMedianMs: median(tickMs), kernelPerS });
}

// ---------------------------------------------------------------- roles: server, fleet

async function serverRole(dir: string): Promise<void> {
  const { startServer } = await import('../server/index.js');
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), httpPort: 0, mqttPort: 0, wsPort: false, log: false });
  process.on('message', async (m: Msg) => {
    if (m.type === 'close') {
      await server.close();
      send({ type: 'closed' });
      process.exit(0);
    }
  });
  send({ type: 'ready', httpUrl: server.httpUrl, token: server.operatorToken });
}

async function fleetRole(cfg: { kind: string; httpUrl: string; token: string; devices: number; dir: string; tag: string }): Promise<void> {
  const { Fleet } = await import('./fleet.js');
  global.gc?.();
  const memBefore = process.memoryUsage();
  const rssBefore = memBefore.rss;
  const t0 = performance.now();
  const fleet = await Fleet.start({
    server: cfg.httpUrl,
    token: cfg.token,
    devices: cfg.devices,
    prefix: `${cfg.kind}`,
    seed: 'bench',
    tags: { bench: cfg.tag },
    stateDir: join(cfg.dir, cfg.kind),
    engineKind: cfg.kind,
    workers: 2,
    agent: { callBudgetMs: 1000, chunkTimeoutMs: 10_000, probation: { ticks: 1 } },
  });
  await fleet.waitFor('every device online', (s) => s.online === cfg.devices, 600_000);
  const bootS = (performance.now() - t0) / 1000;
  process.once('message', async () => {
    try {
      const t1 = performance.now();
      // Settled: every device committed counter 1.0.0 or reverted it (V8 under load can falsely time out).
      const s = await fleet.waitFor('every device settled', (_, f) => f.statuses().every((d) => d.state === 'committed' || d.state === 'rolled_back'), 900_000);
      const committedS = (performance.now() - t1) / 1000;
      // Let a few ticks run, then measure the steady state.
      await new Promise((r) => setTimeout(r, 3000));
      global.gc?.();
      const mem = process.memoryUsage();
      const reasons = s.reasons;
      await fleet.stop();
      send({ type: 'fleet', engine: fleet.engineName, devices: cfg.devices, committed: s.running['counter@1.0.0'] ?? 0, rss: mem.rss, heapUsed: mem.heapUsed - memBefore.heapUsed, external: mem.external - memBefore.external, rssBefore, committedS, reasons });
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  });
  send({ type: 'ready', bootS });
}

// ---------------------------------------------------------------- the benchmark

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const engines = arg('engines', 'wasm3,v8').split(',');
  const instances = Number(arg('instances', '2000'));
  const devices = Number(arg('devices', '1000'));
  const log = (s: string) => process.stdout.write(s + '\n');
  const results: { engine: Record<string, Msg>; fleet: Record<string, Msg> } = { engine: {}, fleet: {} };

  if (instances > 0) log(`== engines alone: ${instances} instances of counter.wat each`);
  for (const kind of instances > 0 ? engines : []) {
    const child = fork(self, ['--role', 'engine', kind, String(instances)], { stdio: 'inherit', execArgv: ['--expose-gc'] });
    const r = await next(child, 'engine');
    results.engine[kind] = r;
    log(
      `${String(r.engine).padEnd(5)} RSS ${kib(Number(r.rssPerInstance))}/instance; first load (validate/compile + instantiate) ${Number(r.firstLoadMs).toFixed(2)} ms, then load+instantiate median ${Number(r.loadMedianMs).toFixed(3)} ms (mean ${Number(r.loadMeanMs).toFixed(3)}); wf_tick round trip median ${Number(r.tickMedianMs).toFixed(3)} ms; CRC-32 kernel ${Number(r.kernelPerS).toFixed(1)} calls/s`,
    );
  }

  if (devices > 0) {
    log(`\n== whole simulated devices: a fleet of ${devices} per engine, counter 1.0.0 deployed to all`);
    const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-engines-'));
    const { initKeys } = await import('../cli/commands/keys-init.js');
    const { ApiClient } = await import('../cli/client.js');
    const { publishModuleFile } = await import('../cli/commands/module-publish.js');
    initKeys(join(dir, 'keys'));
    const server = fork(self, ['--role', 'server', dir], { stdio: 'inherit' });
    try {
      const s = await next(server, 'ready');
      const api = new ApiClient({ server: String(s.httpUrl), token: String(s.token) });
      await publishModuleFile(api, resolve('examples/wat/counter.wat'), { name: 'counter', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: join(dir, 'keys') });
      for (const kind of engines) {
        const fleet = fork(self, ['--role', 'fleet'], { stdio: 'inherit', execArgv: ['--expose-gc', '--max-old-space-size=4096'] });
        const tag = `b-${kind}`;
        fleet.send({ type: 'config', kind, httpUrl: s.httpUrl, token: s.token, devices, dir, tag });
        const online = await next(fleet, 'ready');
        const done = next(fleet, 'fleet');
        await api.post('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { bench: tag } });
        fleet.send({ type: 'watch' });
        const r = await done;
        fleet.kill();
        results.fleet[kind] = r;
        const perDevice = (Number(r.rss) - Number(r.rssBefore)) / devices;
        const fit = Math.floor((4 * GiB - Number(r.rssBefore)) / perDevice);
        log(
          `${String(r.engine).padEnd(5)} fleet RSS ${mib(Number(r.rss))} (process before the fleet: ${mib(Number(r.rssBefore))}): ${kib(perDevice)} per device (JS heap ${kib(Number(r.heapUsed) / devices)}, external ${kib(Number(r.external) / devices)}) → ${fit.toLocaleString('en')} devices in 4 GiB; booted in ${Number(online.bootS).toFixed(1)} s, ${Number(r.committed)} committed, all settled ${Number(r.committedS).toFixed(1)} s after the deploy; rollbacks: ${JSON.stringify(r.reasons)}`,
        );
      }
    } finally {
      server.send({ type: 'close' });
      await next(server, 'closed').catch(() => server.kill());
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const [a, b] = [results.engine.wasm3, results.engine.v8];
  if (a && b) {
    log(`\nwasm3 / v8 ratios (same run): memory per instance ${(Number(a.rssPerInstance) / Number(b.rssPerInstance)).toFixed(3)}, load+instantiate ${(Number(a.loadMedianMs) / Number(b.loadMedianMs)).toFixed(3)}, kernel speed ${(Number(a.kernelPerS) / Number(b.kernelPerS)).toFixed(3)}`);
  }
  const [fa, fb] = [results.fleet.wasm3, results.fleet.v8];
  if (fa && fb) {
    const per = (r: Msg) => (Number(r.rss) - Number(r.rssBefore)) / devices;
    log(`fleet memory per device wasm3 / v8: ${(per(fa) / per(fb)).toFixed(3)}`);
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

const role = process.argv.indexOf('--role');
if (role > 0 && process.argv[role + 1] === 'engine') {
  await engineRole(process.argv[role + 2], Number(process.argv[role + 3]));
  process.exit(0);
} else if (role > 0 && process.argv[role + 1] === 'server') {
  await serverRole(process.argv[role + 2]);
} else if (role > 0 && process.argv[role + 1] === 'fleet') {
  process.once('message', (m: Msg) => {
    void fleetRole(m as unknown as Parameters<typeof fleetRole>[0]).catch((err) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
  });
} else {
  await main();
  process.exit(0);
}
