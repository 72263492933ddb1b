// The external-broker path over TLS: a real mosquitto with require_certificate and
// use_identity_as_username (docs/security.md, "mosquitto"), the fleet CA and CRL made by the
// server in <data>/tls, the server's own link authenticated by its certificate, and a simulated
// device with a client certificate from "devices add --cert" that takes an update. Revoked and
// foreign certificates are refused by mosquitto's TLS handshake.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeviceWithCredentials } from '../cli/commands/device-credentials.js';
import { DeviceAgent } from '../device-sim/agent.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { createCa, generateKeyPair, issueClientCert, loadIssuer, privateKeyPem } from '../server/tls/certs.js';
import type { TlsFiles } from '../cli/commands/tls-init.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { deployCounterUntilCommitted, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

describe('external mosquitto over TLS with device certificates', () => {
  let mosq: Mosquitto;
  let fleet: TestFleet;
  let engine: NodeEngine;
  let ca: string;
  const agents: DeviceAgent[] = [];
  const dataDir = join(tempDir('wf-mosq-tls-'), 'data');

  const tryConnect = (clientId: string, cert: string, key: string) =>
    mqtt
      .connectAsync(fleet.server.mqttUrl, { clientId, ca, cert, key, reconnectPeriod: 0, connectTimeout: 5000 })
      .then(async (c) => {
        await c.endAsync();
        return 'connected';
      })
      .catch((err: Error) => `refused: ${err.message}`);

  beforeAll(async () => {
    // The TLS material first, with the real CLI ("wasmfleet tls init"), so that mosquitto can be configured with it.
    const files = JSON.parse(execFileSync(process.execPath, [join('dist', 'cli', 'main.js'), 'tls', 'init', '--data', dataDir, '--json'], { encoding: 'utf8' })) as TlsFiles;
    mosq = await startMosquitto({ tls: { cafile: files.ca, certfile: files.serverCert, keyfile: files.serverKey, crlfile: files.crl } });
    fleet = await startFleet({ dataDir, brokerUrl: mosq.serverUrl, tls: true });
    ca = readFileSync(files.ca, 'utf8');
    engine = new NodeEngine({ workers: 1 });
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await engine?.close();
    await fleet?.close();
    await mosq?.stop();
  });

  it('a simulated device with a client certificate connects to mosquitto and takes an update', async () => {
    const dir = tempDir();
    const creds = await addDeviceWithCredentials(fleet.api, 'mtls-1', { tags: {}, cert: true, outDir: join(dir, 'certs') });
    expect(creds.mqttUrl).toBe(`mqtts://127.0.0.1:${mosq.port}`);
    const agent = new DeviceAgent({
      deviceId: creds.id,
      mqttUrl: creds.mqttUrl,
      tls: { ca: readFileSync(creds.files!.ca!, 'utf8'), cert: readFileSync(creds.files!.cert, 'utf8'), key: readFileSync(creds.files!.key, 'utf8') },
      rootPublicKey: new Uint8Array(Buffer.from(creds.rootPublicKey, 'hex')),
      stateDir: join(dir, 'state'),
      engine,
      reconnectPeriodMs: 200,
    });
    agents.push(agent);
    await agent.start();
    const d = await deployCounterUntilCommitted<{ state: string; online: boolean; running: Array<{ version: string }> }>(fleet, 'mtls-1');
    expect(d.running[0]?.version).toBe('1.0.0');

    // Revoked while connected to mosquitto (which keeps the connection until the device
    // reconnects): the server ignores what it still sends.
    type Shown = { telemetry: Array<{ name: string; value: number }> };
    const count = async () => (await fleet.api.get<Shown>('/v1/devices/mtls-1')).telemetry.find((t) => t.name === 'count')?.value ?? -1;
    const before = await count();
    await waitFor('telemetry flowing (positive control)', async () => (await count()) > before);
    await fleet.api.post('/v1/devices/mtls-1/revoke', {});
    const atRevoke = await count();
    await new Promise((r) => setTimeout(r, 1500)); // the counter ticks every 100 ms
    expect(agent.status().connected).toBe(true);
    expect(await count()).toBe(atRevoke);
  }, 60_000);

  it('mosquitto refuses a certificate of another CA, and a revoked one once it re-reads the CRL', async () => {
    const dir = tempDir();
    const creds = await addDeviceWithCredentials(fleet.api, 'mtls-2', { tags: {}, cert: true, outDir: dir });
    const cert = readFileSync(creds.files!.cert, 'utf8');
    const key = readFileSync(creds.files!.key, 'utf8');
    expect(await tryConnect('mtls-2', cert, key)).toBe('connected');

    const stranger = await loadIssuer(await createCa('not the fleet CA'));
    const keys = await generateKeyPair();
    const foreign = await issueClientCert(stranger, 'mtls-2', keys.publicKey);
    expect(await tryConnect('mtls-2', foreign.certPem, await privateKeyPem(keys.privateKey))).toMatch(/refused/);

    await fleet.api.post('/v1/devices/mtls-2/revoke', {});
    mosq.reload(); // crlfile is read at start and on SIGHUP
    await waitFor('the revoked certificate refused by mosquitto', async () => /refused/.test(await tryConnect('mtls-2', cert, key)));
    // the server still reaches mosquitto with its own certificate, and other devices still connect
    const other = await addDeviceWithCredentials(fleet.api, 'mtls-3', { tags: {}, cert: true, outDir: join(dir, 'other') });
    expect(await tryConnect('mtls-3', readFileSync(other.files!.cert, 'utf8'), readFileSync(other.files!.key, 'utf8'))).toBe('connected');
  }, 60_000);
});
