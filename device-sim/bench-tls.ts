// npm run bench:tls: what TLS costs at connect time. N devices connect to the embedded broker
// (50 at a time, as the sim fleet boots) three ways, against one server each in this run:
// clear text with passwords (the baseline), TLS with passwords, TLS with client certificates.
// Prints the time until all are connected and the ratio to the baseline; also the time to issue
// one device certificate through the API (CSR made on the operator side).
//
//   node dist/device-sim/bench-tls.js [--devices 200]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import { addDeviceWithCredentials } from '../cli/commands/device-credentials.js';
import { startServer } from '../server/index.js';

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};

type Mode = 'clear' | 'tls-password' | 'tls-cert';

interface Device {
  id: string;
  opts: mqtt.IClientOptions;
}

async function run(mode: Mode, n: number): Promise<{ connectMs: number; issueMsPerCert?: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'wf-bench-tls-'));
  initKeys(join(dir, 'keys'));
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), httpPort: 0, mqttPort: 0, wsPort: false, tls: mode !== 'clear', log: false });
  const ca = server.caFile ? readFileSync(server.caFile, 'utf8') : undefined;
  const api = new ApiClient({ server: server.httpUrl, token: server.operatorToken, ca });
  const ids = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
  const devices: Device[] = [];
  let issueMsPerCert: number | undefined;
  if (mode === 'tls-cert') {
    const t0 = performance.now();
    for (const id of ids) {
      const c = await addDeviceWithCredentials(api, id, { tags: {}, cert: true, outDir: join(dir, 'certs') });
      devices.push({ id, opts: { ca, cert: readFileSync(c.files!.cert, 'utf8'), key: readFileSync(c.files!.key, 'utf8') } });
    }
    issueMsPerCert = (performance.now() - t0) / n;
  } else {
    const r = await api.post<{ devices: Array<{ id: string; password: string }> }>('/v1/devices/batch', { devices: ids.map((id) => ({ id })) });
    for (const d of r.devices) devices.push({ id: d.id, opts: { username: d.id, password: d.password, ca } });
  }
  const clients: MqttClient[] = [];
  const t0 = performance.now();
  for (let i = 0; i < devices.length; i += 50) {
    const group = await Promise.all(devices.slice(i, i + 50).map((d) => mqtt.connectAsync(server.mqttUrl, { clientId: d.id, reconnectPeriod: 0, ...d.opts })));
    clients.push(...group);
  }
  const connectMs = performance.now() - t0;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  return { connectMs, issueMsPerCert };
}

const n = arg('devices', 200);
const clear = await run('clear', n);
const tlsPassword = await run('tls-password', n);
const tlsCert = await run('tls-cert', n);
const row = (name: string, ms: number) => `${name.padEnd(26)} ${ms.toFixed(0).padStart(7)} ms   ${(ms / clear.connectMs).toFixed(2)}× the clear-text baseline`;
process.stdout.write(
  `${n} devices connecting to the embedded broker, 50 at a time\n` +
    `${row('clear text, password', clear.connectMs)}\n${row('TLS, password', tlsPassword.connectMs)}\n${row('TLS, client certificate', tlsCert.connectMs)}\n` +
    `issuing one device certificate (CSR on the operator side, signed by the server): ${tlsCert.issueMsPerCert!.toFixed(1)} ms\n`,
);
