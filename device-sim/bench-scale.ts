// npm run bench (second part): 10,000 simulated devices against one embedded server on this
// machine, spread over simulator processes (wasmfleet sim --procs). Measures, in one run:
//   - provisioning (the batch API), time until all devices are online, the connect rate;
//   - the connect-rate baseline: as many plain MQTT clients (CONNECT + the devices' two SUBSCRIBEs,
//     nothing else) connecting to the same broker from the same number of processes;
//   - a deploy of a small module to all of them: time to all committed;
//   - the server's RSS and CPU.
//
//   node dist/device-sim/bench-scale.js [--devices 10000] [--procs 2]
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../protocol/topics.js';
import { arg, next, request, send, serverRole, type Msg } from './bench-ipc.js';
import { runFleet } from './fleet.js';
import { slices } from './fleet-procs.js';

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------- role: plain MQTT clients (baseline)

async function connectRole(cfg: { devices: Array<{ id: string; password: string; mqttUrl: string }> }): Promise<void> {
  const t0 = performance.now();
  let ready = 0;
  const clients: MqttClient[] = cfg.devices.map((d) => {
    const c = mqtt.connect(d.mqttUrl, { clientId: d.id, username: d.id, password: d.password, clean: true, keepalive: 30, connectTimeout: 30_000, reconnectPeriod: 1000 });
    c.once('connect', () => {
      void c.subscribeAsync({ [deviceTopic(d.id, 'chunk')]: { qos: 0 }, [deviceTopic(d.id, 'directive')]: { qos: 1 } }).then(() => {
        if (++ready === clients.length) {
          send({ type: 'connected', ms: performance.now() - t0 });
        }
      });
    });
    c.on('error', () => {});
    return c;
  });
  process.once('message', () => void Promise.all(clients.map((c) => c.endAsync(true))).then(() => (send({ type: 'closed' }), process.exit(0))));
}

// ---------------------------------------------------------------- the benchmark

async function main(): Promise<void> {
  const devices = arg('devices', 10_000);
  const procs = arg('procs', 2);
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-bench-scale-'));
  const { initKeys } = await import('../cli/commands/keys-init.js');
  const { ApiClient } = await import('../cli/client.js');
  const { publishModuleFile } = await import('../cli/commands/module-publish.js');
  initKeys(join(dir, 'keys'));
  const log = (line: string) => process.stdout.write(line + '\n');

  const server = fork(self, ['--role', 'server', dir], { stdio: 'inherit', execArgv: ['--max-old-space-size=4096'] });
  try {
    const ready = await next(server, 'ready');
    const api = new ApiClient({ server: String(ready.httpUrl), token: String(ready.token) });
    log(`scale: ${devices} simulated devices in ${procs} processes against one embedded server (pid ${server.pid})`);
    await publishModuleFile(api, join(process.cwd(), 'examples', 'wat', 'blink.wat'), { name: 'blink', version: '1.0.0', tickMs: 1000, stack: 16384, keysDir: join(dir, 'keys') });

    const tStart = performance.now();
    let tOnline = 0;
    let tDeploy = 0;
    let deployed: Promise<unknown> | null = null;
    const result = await runFleet({
      server: String(ready.httpUrl),
      token: String(ready.token),
      devices,
      procs,
      seed: 'scale',
      tags: { bench: 'scale' },
      stateDir: join(dir, 'devices'),
      workers: 1,
      agent: { probation: { ticks: 1 }, callBudgetMs: 5000, chunkTimeoutMs: 10_000 },
      until: (sum) => {
        if (!tOnline && sum.online === devices) {
          tOnline = performance.now() - tStart;
          log(`all ${devices} online after ${s(tOnline)} (provisioning included); deploying blink@1.0.0 to all`);
          tDeploy = performance.now();
          deployed = api.post('/v1/deployments', { module: 'blink', version: '1.0.0', tags: { bench: 'scale' } });
        }
        return tOnline > 0 && (sum.running['blink@1.0.0'] ?? 0) === devices && sum.inProgress === 0;
      },
    });
    await deployed;
    const tCommitted = performance.now() - tDeploy;
    const st = await request(server, { type: 'stats' }, 'stats');
    log(`all ${result.summary.states.committed ?? 0}/${devices} committed ${s(tCommitted)} after the deploy request`);
    // A run that did not end clean says how: devices offline or stuck mid-update at the end.
    if (!result.ok) log(`not a clean finish: ${result.summary.online}/${devices} online at the end, ${result.summary.inProgress} mid-update, states ${JSON.stringify(result.summary.states)}`);

    // Baseline: the same number of plain MQTT clients, same credentials, same process count.
    const creds = (JSON.parse(readFileSync(join(dir, 'devices', 'fleet.json'), 'utf8')) as { devices: Array<{ id: string; password: string; mqttUrl: string }> }).devices;
    const children = slices(devices, procs).map(({ first, count }) => {
      const c = fork(self, ['--role', 'connect'], { stdio: 'inherit' });
      c.send({ devices: creds.slice(first, first + count) });
      return c;
    });
    const tb = performance.now();
    await Promise.all(children.map((c) => next(c, 'connected')));
    const baselineMs = performance.now() - tb;
    await Promise.all(children.map((c) => request(c, { type: 'close' }, 'closed')));

    // Online time without provisioning: the batch API is measured in the fleet's own run.
    const rateDevices = devices / (tOnline / 1000);
    const rateBaseline = devices / (baselineMs / 1000);
    log(`connect rate: ${rateDevices.toFixed(0)} devices online/s (incl. provisioning) vs ${rateBaseline.toFixed(0)} plain MQTT clients/s (${s(baselineMs)} for ${devices}): ratio ${(rateDevices / rateBaseline).toFixed(2)}`);
    log(`server RSS ${mb(Number(st.rss))} (peak ${mb(Number(st.peakRss))}) with ${devices} devices`);
    process.stdout.write(
      JSON.stringify({ scale: { devices, procs, onlineMs: tOnline, committedMs: tCommitted, baselineConnectMs: baselineMs, connectRateRatio: rateDevices / rateBaseline, serverRss: st.rss, serverPeakRss: st.peakRss, ok: result.ok } }) + '\n',
    );
  } finally {
    await request(server, { type: 'close' }, 'closed').catch(() => server.kill());
    rmSync(dir, { recursive: true, force: true });
  }
}

const role = process.argv.indexOf('--role');
if (role > 0 && process.argv[role + 1] === 'server') {
  await serverRole(process.argv[role + 2]);
} else if (role > 0 && process.argv[role + 1] === 'connect') {
  process.once('message', (m: Msg) => void connectRole(m as unknown as { devices: Array<{ id: string; password: string; mqttUrl: string }> }));
} else {
  await main();
  process.exit(0);
}
