// npm run bench: deploy a 64 KiB module to 1,000 simulated devices. The server (embedded aedes)
// and the fleet run in separate processes. In the same run, the raw baseline: the same bytes as
// 4 KiB chunks to 1,000 plain MQTT clients through the same broker and the same chunk handler,
// with no device logic (no checks, no slots, no Wasm). Prints time to all-committed, its ratio to
// the baseline, server CPU and RSS, and fleet RSS per device.
//
//   node dist/device-sim/bench.js [--devices 1000] [--size 65536]
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { fromHex, toHex } from '../protocol/crypto.js';
import { decodeChunkResponse, encodeChunkRequest } from '../protocol/messages.js';
import { deviceTopic } from '../protocol/topics.js';
import { arg, moduleOfSize, next, request, send, serverRole, type Msg } from './bench-ipc.js';
import { Fleet } from './fleet.js';

const CHUNK = 4096;
const WINDOW = 6;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

// ---------------------------------------------------------------- role: fleet (+ baseline)

async function fleetRole(cfg: { httpUrl: string; token: string; devices: number; dir: string }): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const fleet = await Fleet.start({
    server: cfg.httpUrl,
    token: cfg.token,
    devices: cfg.devices,
    seed: 'bench',
    tags: { bench: '1' },
    stateDir: join(cfg.dir, 'devices'),
    workers: 2,
    agent: { chunkSize: CHUNK, window: WINDOW, chunkTimeoutMs: 5000, callBudgetMs: 3000, probation: { ticks: 1 } },
  });
  await fleet.waitFor('every device online', (s) => s.online === cfg.devices, 300_000);
  send({ type: 'ready', rss: process.memoryUsage().rss, rssBefore });

  process.on('message', async (m: Msg) => {
    try {
      if (m.type === 'watch') {
        if (process.env.BENCH_TRACE) {
          const t0 = performance.now();
          const last: Record<string, number> = {};
          for (const id of fleet.ids) {
            fleet.agent(id).on('report', (r: { state: string; progress?: { bytes: number; total: number } }) => {
              const k = r.state === 'downloading' && r.progress?.bytes === r.progress?.total ? 'downloaded' : r.state;
              last[k] = Math.max(last[k] ?? 0, performance.now() - t0);
            });
          }
          setTimeout(() => console.error('trace (ms, last device to reach each state):', JSON.stringify(last)), 8000).unref();
        }
        // Milestones as the devices see them; the parent stamps their arrival.
        let downloaded = false;
        await fleet.waitFor(
          'all committed',
          (s, f) => {
            if (!downloaded && f.statuses().every((d) => ['installing', 'probation', 'committed'].includes(d.state) && (d.targetSequence ?? d.sequence) >= 1)) {
              downloaded = true;
              send({ type: 'downloaded' });
            }
            return (s.running[String(m.release)] ?? 0) === cfg.devices && s.inProgress === 0;
          },
          600_000,
        );
        send({ type: 'committed', rss: process.memoryUsage().rss, summary: fleet.summary() });
      } else if (m.type === 'exit') {
        process.exit(0);
      } else if (m.type === 'baseline') {
        await fleet.stop(); // the same credentials are reused by the plain clients
        const creds = (await import('node:fs')).readFileSync(join(cfg.dir, 'devices', 'fleet.json'), 'utf8');
        const devices = (JSON.parse(creds) as { devices: Array<{ id: string; password: string; mqttUrl: string }> }).devices;
        send({ type: 'baseline', ...(await baseline(devices, fromHex(String(m.sha256)), Number(m.size))) });
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  });
}

/** Plain MQTT clients fetching the image as 4 KiB chunks, WINDOW in flight, nothing else. */
async function baseline(devices: Array<{ id: string; password: string; mqttUrl: string }>, sha256: Uint8Array, size: number): Promise<{ connectMs: number; transferMs: number }> {
  const t0 = performance.now();
  const clients: MqttClient[] = [];
  for (let i = 0; i < devices.length; i += 50) {
    const group = await Promise.all(
      devices.slice(i, i + 50).map(async (d) => {
        const c = await mqtt.connectAsync(d.mqttUrl, { clientId: d.id, username: d.id, password: d.password, reconnectPeriod: 1000, clean: true });
        await c.subscribeAsync(deviceTopic(d.id, 'chunk'), { qos: 0 });
        return c;
      }),
    );
    clients.push(...group);
  }
  const connectMs = performance.now() - t0;
  const chunks = Math.ceil(size / CHUNK);
  const t1 = performance.now();
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          const id = devices[i].id;
          const got = new Set<number>();
          let nextIndex = 0;
          const timers = new Map<number, NodeJS.Timeout>();
          const ask = (index: number) => {
            clearTimeout(timers.get(index));
            timers.set(index, setTimeout(() => ask(index), 5000)); // the same retry as the devices
            c.publish(deviceTopic(id, 'chunk/get'), Buffer.from(encodeChunkRequest({ sha256, index, chunkSize: CHUNK })), { qos: 0 });
          };
          c.on('message', (_t, payload) => {
            const r = decodeChunkResponse(new Uint8Array(payload));
            if (!r.data || got.has(r.index)) return;
            got.add(r.index);
            clearTimeout(timers.get(r.index));
            if (got.size === chunks) return resolve();
            if (nextIndex < chunks) ask(nextIndex++);
          });
          while (nextIndex < Math.min(WINDOW, chunks)) ask(nextIndex++);
        }),
    ),
  );
  const transferMs = performance.now() - t1;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return { connectMs, transferMs };
}

// ---------------------------------------------------------------- the benchmark

async function main(): Promise<void> {
  const devices = arg('devices', 1000);
  const size = arg('size', 65536);
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-'));
  const { initKeys } = await import('../cli/commands/keys-init.js');
  const { ApiClient } = await import('../cli/client.js');
  const { publishModuleFile } = await import('../cli/commands/module-publish.js');
  initKeys(join(dir, 'keys'));
  const log = (s: string) => process.stdout.write(s + '\n');

  const server = fork(self, ['--role', 'server', dir], { stdio: 'inherit', execArgv: process.env.BENCH_PROF_SERVER ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF_SERVER}`] : [] });
  const fleet = fork(self, ['--role', 'fleet', dir], { stdio: 'inherit', execArgv: ['--max-old-space-size=4096', ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [])] });
  try {
    const s = await next(server, 'ready');
    log(`server ${String(s.httpUrl)} (embedded aedes ${String(s.mqttUrl)}), pid ${server.pid}`);
    const api = new ApiClient({ server: String(s.httpUrl), token: String(s.token) });

    const tBoot = performance.now();
    fleet.send({ type: 'config', httpUrl: s.httpUrl, token: s.token, devices, dir });
    const f = await next(fleet, 'ready');
    log(`${devices} simulated devices provisioned, booted and online in ${((performance.now() - tBoot) / 1000).toFixed(1)} s (fleet pid ${fleet.pid})`);

    const file = join(dir, 'bench.wat');
    writeFileSync(file, await moduleOfSize(size));
    const published = await publishModuleFile(api, file, { name: 'bench', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: join(dir, 'keys') });
    log(`module bench@1.0.0: ${published.size} bytes, ${Math.ceil(published.size / CHUNK)} chunks of ${CHUNK} B`);

    const cpu0 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const watching = next(fleet, 'downloaded');
    const committing = next(fleet, 'committed');
    fleet.send({ type: 'watch', release: 'bench@1.0.0' });
    const t0 = performance.now();
    await api.post('/v1/deployments', { module: 'bench', version: '1.0.0', tags: { bench: '1' } });
    const tDeployed = performance.now() - t0;
    await watching;
    const tDownloaded = performance.now() - t0;
    const c = await committing;
    const tCommitted = performance.now() - t0;
    const st = await request(server, { type: 'stats' }, 'stats');
    const cpu1 = st.cpu as NodeJS.CpuUsage;
    const serverCpuS = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1e6;

    const bcpu0 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const b = await request(fleet, { type: 'baseline', sha256: toHex(fromHex(published.sha256)), size: published.size }, 'baseline');
    const bcpu1 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const baselineCpuS = (bcpu1.user - bcpu0.user + bcpu1.system - bcpu0.system) / 1e6;
    const baselineMs = Number(b.transferMs);

    const fleetRss = Number(c.rss);
    log('');
    log(`deploy request (sign + publish ${devices} directives): ${(tDeployed / 1000).toFixed(2)} s`);
    log(`time to all downloaded + verified:      ${(tDownloaded / 1000).toFixed(2)} s`);
    log(`time to all committed (1-tick probation of 1 s): ${(tCommitted / 1000).toFixed(2)} s`);
    log(`raw baseline (${devices} plain MQTT clients, same bytes, ${CHUNK} B chunks, window ${WINDOW}): ${(baselineMs / 1000).toFixed(2)} s (+ ${(Number(b.connectMs) / 1000).toFixed(1)} s to connect)`);
    log(`ratio all-committed / baseline: ${(tCommitted / baselineMs).toFixed(2)}x; all-downloaded / baseline: ${(tDownloaded / baselineMs).toFixed(2)}x`);
    log(`server CPU during the deploy: ${serverCpuS.toFixed(2)} s (baseline transfer: ${baselineCpuS.toFixed(2)} s); server RSS ${mb(Number(st.rss))}`);
    log(`fleet RSS ${mb(fleetRss)} for ${devices} devices: ${((fleetRss - Number(f.rssBefore)) / devices / 1024).toFixed(0)} KiB per device (${(fleetRss / devices / 1024).toFixed(0)} KiB with the process baseline)`);
    process.stdout.write(JSON.stringify({ devices, size: published.size, deployMs: tDeployed, downloadedMs: tDownloaded, committedMs: tCommitted, baselineMs, ratio: tCommitted / baselineMs, serverCpuS, serverRss: st.rss, fleetRss, fleetRssPerDevice: (fleetRss - Number(f.rssBefore)) / devices }) + '\n');
  } finally {
    // A clean exit (not a kill) so a --cpu-prof profile gets written.
    const exited = new Promise((r) => fleet.once('exit', r));
    if (fleet.connected) fleet.send({ type: 'exit' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    fleet.kill();
    await request(server, { type: 'close' }, 'closed').catch(() => server.kill());
    rmSync(dir, { recursive: true, force: true });
  }
}

const role = process.argv.indexOf('--role');
if (role > 0 && process.argv[role + 1] === 'server') {
  await serverRole(process.argv[role + 2]);
} else if (role > 0 && process.argv[role + 1] === 'fleet') {
  process.once('message', (m: Msg) => {
    void fleetRole(m as unknown as { httpUrl: string; token: string; devices: number; dir: string }).catch((err) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
  });
} else {
  await main();
  process.exit(0);
}
