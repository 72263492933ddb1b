// npm run bench: deploy a 64 KiB module to 1,000 simulated devices. The server (embedded aedes)
// and the fleet run in separate processes. In the same run, two baselines move the same bytes as
// 4 KiB chunks to 1,000 plain MQTT clients (request/response, WINDOW in flight, no device logic:
// no checks, no slots, no Wasm):
//   raw broker   a second broker configured as the server's, answering each request in-process
//                with a response encoded in advance: the broker's own cost, and the bar's baseline;
//   server pull  the same clients through the fleet server's broker and its chunk handler.
// Prints the issue 12 bars as ratios to the raw baseline: all downloaded + verified ≤ 1.5×;
// all committed ≤ baseline + probation + 1 s; server CPU per device update ≤ 1 ms; and the
// simulator's CPU (it shares the machine with the server).
//
// The devices pull every chunk (the agent's default); BENCH_FANOUT=1 has them stream the release
// from its image topic first (chunk fan-out, protocol.md §5.2), then pull what is missing.
//
//   node dist/device-sim/bench.js [--devices 1000] [--size 65536]
//   BENCH_PROF=<dir>: CPU profiles of the server and the fleet over the deploy only (bench-ipc.ts)
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { fromHex, toHex } from '../protocol/crypto.js';
import { decodeChunkResponse, encodeChunkRequest } from '../protocol/messages.js';
import { compileWat } from '../cli/wat.js';
import { deviceTopic, FRESHNESS_TOPIC } from '../protocol/topics.js';
import { arg, moduleOfSize, next, profileOnRequest, request, send, serverRole, type Msg } from './bench-ipc.js';
import { Fleet } from './fleet.js';

const CHUNK = 4096;
const WINDOW = 6;
/** The devices' probation: one tick of the module's tickMs. */
const TICK_MS = 1000;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
/** Devices pull (the agent's default) unless BENCH_FANOUT=1: stream first, then pull what is missing. */
const FANOUT = process.env.BENCH_FANOUT === '1';

// ---------------------------------------------------------------- role: fleet (+ baseline)

async function fleetRole(cfg: { httpUrl: string; token: string; devices: number; dir: string; deviceDir: string }): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const fleet = await Fleet.start({
    server: cfg.httpUrl,
    token: cfg.token,
    devices: cfg.devices,
    seed: 'bench',
    tags: { bench: '1' },
    stateDir: cfg.deviceDir,
    workers: 2,
    agent: { chunkSize: CHUNK, window: WINDOW, chunkTimeoutMs: 5000, callBudgetMs: 3000, probation: { ticks: 1 }, fanout: FANOUT },
  });
  await fleet.waitFor('every device online', (s) => s.online === cfg.devices, 300_000);
  profileOnRequest('fleet');
  send({ type: 'ready', rss: process.memoryUsage().rss, rssBefore });

  process.on('message', async (m: Msg) => {
    try {
      if (m.type === 'watch') {
        if (process.env.BENCH_TRACE) {
          // When each device reached each state: first, median, 90th percentile and last, in ms.
          const t0 = performance.now();
          const at: Record<string, number[]> = {};
          for (const id of fleet.ids) {
            const seen = new Set<string>();
            fleet.agent(id).on('report', (r: { state: string; progress?: { bytes: number; total: number } }) => {
              const k = r.state === 'downloading' && r.progress && r.progress.bytes === r.progress.total ? 'downloaded' : r.state;
              if (seen.has(k)) return;
              seen.add(k);
              (at[k] ??= []).push(performance.now() - t0);
            });
          }
          setTimeout(() => {
            const q = (v: number[], p: number) => Math.round(v[Math.min(v.length - 1, Math.floor(p * v.length))]);
            for (const [k, v] of Object.entries(at)) {
              v.sort((a, b) => a - b);
              console.error(`trace ${k.padEnd(12)} n=${v.length} first ${q(v, 0)} p50 ${q(v, 0.5)} p90 ${q(v, 0.9)} last ${q(v, 1)} ms`);
            }
          }, 20_000).unref();
        }
        // Milestones as the devices see them; the parent stamps their arrival.
        const cpu0 = process.cpuUsage();
        const cpuS = () => {
          const c = process.cpuUsage(cpu0);
          return (c.user + c.system) / 1e6;
        };
        let downloaded = false;
        await fleet.waitFor(
          'all committed',
          (s) => {
            // Past the download: installing, probation or committed (the devices start idle, at
            // sequence 0). Read off the summary the poll builds anyway: a second pass over 1,000
            // devices' statuses every 100 ms was ~0.1 ms of the simulator's CPU per device update.
            const past = (s.states.installing ?? 0) + (s.states.probation ?? 0) + (s.states.committed ?? 0);
            if (!downloaded && past === cfg.devices) {
              downloaded = true;
              send({ type: 'downloaded', cpuS: cpuS() });
            }
            return (s.running[String(m.release)] ?? 0) === cfg.devices && s.inProgress === 0;
          },
          600_000,
        );
        send({ type: 'committed', rss: process.memoryUsage().rss, summary: fleet.summary(), cpuS: cpuS() });
      } else if (m.type === 'exit') {
        process.exit(0);
      } else if (m.type === 'baseline') {
        await fleet.stop(); // the same credentials are reused by the plain clients
        const creds = (await import('node:fs')).readFileSync(join(cfg.deviceDir, 'fleet.json'), 'utf8');
        const devices = (JSON.parse(creds) as { devices: Array<{ id: string; password: string; mqttUrl: string }> }).devices;
        const at = m.mqttUrl ? devices.map((d) => ({ ...d, mqttUrl: String(m.mqttUrl) })) : devices;
        send({ type: 'baseline', ...(await baseline(at, fromHex(String(m.sha256)), Number(m.size), m.fanOut === true)) });
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  });
}

/**
 * Plain MQTT clients fetching the image as 4 KiB chunks, WINDOW in flight, nothing else; or, with
 * `fanOut`, subscribed to one topic the chunks are published on once (the parent has the broker
 * publish them when every client is subscribed: `fanout-ready`).
 */
async function baseline(devices: Array<{ id: string; password: string; mqttUrl: string }>, sha256: Uint8Array, size: number, fanOut = false): Promise<{ connectMs: number; transferMs: number }> {
  const t0 = performance.now();
  const clients: MqttClient[] = [];
  for (let i = 0; i < devices.length; i += 50) {
    const group = await Promise.all(
      devices.slice(i, i + 50).map(async (d) => {
        const c = await mqtt.connectAsync(d.mqttUrl, { clientId: d.id, username: d.id, password: d.password, reconnectPeriod: 1000, clean: true });
        await c.subscribeAsync(fanOut ? FRESHNESS_TOPIC : deviceTopic(d.id, 'chunk'), { qos: 0 });
        return c;
      }),
    );
    clients.push(...group);
  }
  const connectMs = performance.now() - t0;
  const chunks = Math.ceil(size / CHUNK);
  const t1 = performance.now();
  if (fanOut) {
    const all = Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve) => {
            const got = new Set<number>();
            c.on('message', (_t, payload) => {
              const r = decodeChunkResponse(new Uint8Array(payload));
              if (r.data) got.add(r.index);
              if (got.size === chunks) resolve();
            });
          }),
      ),
    );
    send({ type: 'fanout-ready' });
    await all;
    return finish(clients, connectMs, performance.now() - t1);
  }
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
  return finish(clients, connectMs, performance.now() - t1);
}

async function finish(clients: MqttClient[], connectMs: number, transferMs: number): Promise<{ connectMs: number; transferMs: number }> {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return { connectMs, transferMs };
}

// ---------------------------------------------------------------- the benchmark

async function main(): Promise<void> {
  const devices = arg('devices', 1000);
  const size = arg('size', 65536);
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-'));
  // Each simulated device's flash (state file, slots, kv) in memory when the machine has a tmpfs:
  // a real device writes its own flash; here 1,000 devices' file writes would share the server's
  // CPU and disk and make it look slow. The server's data stays on disk.
  const deviceDir = existsSync('/dev/shm') && !process.env.BENCH_DEVICE_DISK ? mkdtempSync('/dev/shm/wasmfleet-bench-devices-') : join(dir, 'devices');
  const { initKeys } = await import('../cli/commands/keys-init.js');
  const { ApiClient } = await import('../cli/client.js');
  const { publishModuleFile } = await import('../cli/commands/module-publish.js');
  initKeys(join(dir, 'keys'));
  const log = (s: string) => process.stdout.write(s + '\n');

  const server = fork(self, ['--role', 'server', dir], { stdio: 'inherit' });
  const fleet = fork(self, ['--role', 'fleet', dir], { stdio: 'inherit', execArgv: ['--max-old-space-size=4096'] });
  try {
    const s = await next(server, 'ready');
    log(`server ${String(s.httpUrl)} (embedded aedes ${String(s.mqttUrl)}), pid ${server.pid}`);
    const api = new ApiClient({ server: String(s.httpUrl), token: String(s.token) });

    const tBoot = performance.now();
    fleet.send({ type: 'config', httpUrl: s.httpUrl, token: s.token, devices, dir, deviceDir });
    const f = await next(fleet, 'ready');
    log(`${devices} simulated devices provisioned, booted and online in ${((performance.now() - tBoot) / 1000).toFixed(1)} s (fleet pid ${fleet.pid}; device state in ${deviceDir})`);

    const file = join(dir, 'bench.wat');
    const wat = await moduleOfSize(size);
    writeFileSync(file, wat);
    const image = await compileWat(wat);
    const published = await publishModuleFile(api, file, { name: 'bench', version: '1.0.0', tickMs: TICK_MS, stack: 16384, keysDir: join(dir, 'keys') });
    log(`module bench@1.0.0: ${published.size} bytes, ${Math.ceil(published.size / CHUNK)} chunks of ${CHUNK} B`);

    const prof = Boolean(process.env.BENCH_PROF);
    if (prof) for (const child of [server, fleet]) child.send({ type: 'prof-start' });
    const st0 = await request(server, { type: 'stats' }, 'stats');
    const cpu0 = st0.cpu as NodeJS.CpuUsage;
    const watching = next(fleet, 'downloaded');
    const committing = next(fleet, 'committed');
    fleet.send({ type: 'watch', release: 'bench@1.0.0' });
    const t0 = performance.now();
    await api.post('/v1/deployments', { module: 'bench', version: '1.0.0', tags: { bench: '1' } });
    const tDeployed = performance.now() - t0;
    const d = await watching;
    const tDownloaded = performance.now() - t0;
    const c = await committing;
    const tCommitted = performance.now() - t0;
    const st = await request(server, { type: 'stats' }, 'stats');
    const cpu1 = st.cpu as NodeJS.CpuUsage;
    type Counts = { image: number; answers: number; gets: number; streams: number };
    const p0 = st0.publishes as Counts;
    const p1 = st.publishes as Counts;
    const traffic = { image: p1.image - p0.image, answers: p1.answers - p0.answers, gets: p1.gets - p0.gets, streams: p1.streams - p0.streams };
    const serverCpuS = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1e6;
    if (prof) await Promise.all([server, fleet].map((child) => request(child, { type: 'prof-stop' }, 'prof-written')));

    // Baseline 1: the same plain clients through the fleet server's broker and chunk handler.
    const bcpu0 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const sha = toHex(fromHex(published.sha256));
    const b = await request(fleet, { type: 'baseline', sha256: sha, size: published.size }, 'baseline');
    const bcpu1 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const pullCpuS = (bcpu1.user - bcpu0.user + bcpu1.system - bcpu0.system) / 1e6;
    const pullMs = Number(b.transferMs);
    // Baseline 2 (the bar's): the raw broker, no fleet server on it.
    const raw = await request(server, { type: 'raw-broker', image: Buffer.from(image).toString('base64'), chunkSize: CHUNK }, 'raw-broker');
    const rcpu0 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const r = await request(fleet, { type: 'baseline', sha256: sha, size: published.size, mqttUrl: raw.mqttUrl }, 'baseline');
    const rcpu1 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const rawCpuS = (rcpu1.user - rcpu0.user + rcpu1.system - rcpu0.system) / 1e6;
    const baselineMs = Number(r.transferMs);
    // The direction issue 12 names: each chunk published once, the broker fanning it out.
    const fcpu0 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const fanning = next(fleet, 'baseline');
    await request(fleet, { type: 'baseline', sha256: sha, size: published.size, mqttUrl: raw.mqttUrl, fanOut: true }, 'fanout-ready');
    server.send({ type: 'raw-fanout' });
    const fo = await fanning;
    const fcpu1 = (await request(server, { type: 'stats' }, 'stats')).cpu as NodeJS.CpuUsage;
    const fanCpuS = (fcpu1.user - fcpu0.user + fcpu1.system - fcpu0.system) / 1e6;
    const fanMs = Number(fo.transferMs);

    const fleetRss = Number(c.rss);
    const probationMs = TICK_MS;
    const committedBarMs = baselineMs + probationMs + 1000;
    const perUpdateMs = (serverCpuS * 1000) / devices;
    const simPerUpdateMs = (Number(c.cpuS) * 1000) / devices;
    const x = (v: number) => `${v.toFixed(2)}x`;
    const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    log('');
    log(`deploy request (sign + publish ${devices} directives): ${sec(tDeployed)}`);
    log(`raw broker baseline (${devices} plain MQTT clients, same bytes, ${CHUNK} B chunks, window ${WINDOW}, answered in-process): ${sec(baselineMs)} (+ ${(Number(r.connectMs) / 1000).toFixed(1)} s to connect), broker process CPU ${rawCpuS.toFixed(2)} s`);
    log(`raw broker fan-out (each chunk published once on one topic all ${devices} clients read): ${sec(fanMs)} = ${x(fanMs / baselineMs)} the raw baseline, broker process CPU ${fanCpuS.toFixed(2)} s (${x(fanCpuS / rawCpuS)} the pull's)`);
    log(`server pull (the same clients through the fleet server's chunk handler): ${sec(pullMs)} = ${x(pullMs / baselineMs)} the raw baseline, server CPU ${pullCpuS.toFixed(2)} s`);
    log(`devices: ${FANOUT ? 'chunk fan-out (stream, then pull what is missing)' : 'pull only (the default; BENCH_FANOUT=1 streams)'}`);
    const sentMiB = (Number(st.bytesToClients) - Number(st0.bytesToClients)) / 1048576;
    log(`chunk traffic in the deploy: ${traffic.image} chunks on the image topic, ${traffic.answers} chunks answered to single devices; requests: ${traffic.streams} chunk/stream, ${traffic.gets} chunk/get; the broker wrote ${sentMiB.toFixed(1)} MiB to the devices (${((sentMiB * 1048576) / devices / published.size).toFixed(2)}x the image per device)`);
    log(`time to all downloaded + verified: ${sec(tDownloaded)} = ${x(tDownloaded / baselineMs)} the raw baseline (bar: 1.50x); ${x(tDownloaded / fanMs)} the raw fan-out`);
    log(`time to all committed: ${sec(tCommitted)} = baseline + probation (${sec(probationMs)}) + ${sec(tCommitted - baselineMs - probationMs)} (bar: + 1.00 s); ${x(tCommitted / baselineMs)} the raw baseline`);
    log(`server CPU during the deploy: ${serverCpuS.toFixed(2)} s = ${perUpdateMs.toFixed(2)} ms per device update (bar: 1.00 ms); ${x(serverCpuS / rawCpuS)} the raw broker pull's CPU, ${x(serverCpuS / fanCpuS)} the raw fan-out's; server RSS ${mb(Number(st.rss))}`);
    log(`simulator CPU during the deploy: ${Number(c.cpuS).toFixed(2)} s = ${simPerUpdateMs.toFixed(2)} ms per device update (${Number(d.cpuS).toFixed(2)} s until all downloaded); fleet RSS ${mb(fleetRss)}: ${((fleetRss - Number(f.rssBefore)) / devices / 1024).toFixed(0)} KiB per device (${(fleetRss / devices / 1024).toFixed(0)} KiB with the process baseline)`);
    process.stdout.write(
      JSON.stringify({
        devices,
        fanout: FANOUT,
        traffic,
        sentToDevicesBytes: Number(st.bytesToClients) - Number(st0.bytesToClients),
        size: published.size,
        deployMs: tDeployed,
        downloadedMs: tDownloaded,
        committedMs: tCommitted,
        baselineMs,
        serverPullMs: pullMs,
        rawFanOutMs: fanMs,
        rawFanOutCpuS: fanCpuS,
        downloadedRatio: tDownloaded / baselineMs,
        downloadedOverRawFanOut: tDownloaded / fanMs,
        committedOverBarMs: tCommitted - committedBarMs,
        ratio: tCommitted / baselineMs,
        serverCpuS,
        serverCpuMsPerUpdate: perUpdateMs,
        rawBrokerCpuS: rawCpuS,
        serverPullCpuS: pullCpuS,
        simCpuS: Number(c.cpuS),
        serverRss: st.rss,
        fleetRss,
        fleetRssPerDevice: (fleetRss - Number(f.rssBefore)) / devices,
      }) + '\n',
    );
  } finally {
    const exited = new Promise((r) => fleet.once('exit', r));
    if (fleet.connected) fleet.send({ type: 'exit' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    fleet.kill();
    await request(server, { type: 'close' }, 'closed').catch(() => server.kill());
    rmSync(dir, { recursive: true, force: true });
    rmSync(deviceDir, { recursive: true, force: true });
  }
}

const role = process.argv.indexOf('--role');
if (role > 0 && process.argv[role + 1] === 'server') {
  await serverRole(process.argv[role + 2]);
} else if (role > 0 && process.argv[role + 1] === 'fleet') {
  process.once('message', (m: Msg) => {
    void fleetRole(m as unknown as { httpUrl: string; token: string; devices: number; dir: string; deviceDir: string }).catch((err) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
  });
} else {
  await main();
  process.exit(0);
}
