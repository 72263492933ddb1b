// Transport security on the embedded broker and the API (docs/security.md, transport): a real
// server with --tls, real mqtt.js clients and a real simulated device with a client certificate
// issued by "devices add --cert" over HTTPS. Refused: another CA, an expired certificate, a
// revoked or replaced one, a CN that is not the client id; clear text on a non-loopback address.
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeviceWithCredentials, rotateDeviceCredentials } from '../cli/commands/device-credentials.js';
import { DeviceAgent } from '../device-sim/agent.js';
import { Fleet } from '../device-sim/fleet.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { WfError } from '../protocol/errors.js';
import { startServer } from '../server/index.js';
import { createCa, createCsr, csrPublicKey, generateKeyPair, issueClientCert, issueServerCert, loadIssuer, privateKeyPem } from '../server/tls/certs.js';
import { prepareFleetTls, TLS_FILES } from '../server/tls/fleet-tls.js';
import { deployCounterUntilCommitted, startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const run = promisify(execFile);

interface View {
  id: string;
  online: boolean;
  state: string;
  credential: string;
  revokedAt: number | null;
  running: Array<{ version: string }>;
}

describe('TLS: embedded broker with device certificates, HTTPS API', () => {
  let fleet: TestFleet;
  let engine: NodeEngine;
  const logs: Array<{ msg: string; code?: string; detail?: string; clientId?: string }> = [];
  const agents: DeviceAgent[] = [];
  let ca: string;

  /** A raw device connection over TLS; resolves to the CONNACK outcome. */
  const tryConnect = (opts: { clientId: string; cert?: string; key?: string; password?: string }) =>
    mqtt
      .connectAsync(fleet.server.mqttUrl, { clientId: opts.clientId, ca, cert: opts.cert, key: opts.key, username: opts.password ? opts.clientId : undefined, password: opts.password, reconnectPeriod: 0, connectTimeout: 5000 })
      .then(async (c) => {
        await c.endAsync();
        return 'connected';
      })
      .catch((err: Error) => `refused: ${err.message}`);
  const refusalLogged = (clientId: string, code: string) => waitFor(`broker log ${code} for ${clientId}`, () => logs.find((l) => l.clientId === clientId && l.code === code));

  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    fleet = await startFleet({ tls: true, log });
    ca = readFileSync(fleet.server.caFile!, 'utf8');
    engine = new NodeEngine({ workers: 1 });
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await engine?.close();
    await fleet?.close();
  });

  it('makes the fleet CA and server certificate on first start (keys 0600) and listens on mqtts, wss and https', () => {
    expect(fleet.server.mqttUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(fleet.server.wsUrl).toMatch(/^wss:/);
    expect(fleet.server.httpUrl).toMatch(/^https:/);
    for (const key of [TLS_FILES.caKey(fleet.dataDir), TLS_FILES.serverKey(fleet.dataDir), TLS_FILES.linkKey(fleet.dataDir)]) {
      expect((statSync(key).mode & 0o777).toString(8)).toBe('600');
    }
  });

  it('a simulated device with a client certificate connects over TLS and takes an update', async () => {
    const dir = tempDir();
    const creds = await addDeviceWithCredentials(fleet.api, 'tls-sim-1', { tags: {}, cert: true, outDir: join(dir, 'certs') });
    expect(creds.password).toBeUndefined();
    expect((statSync(creds.files!.key).mode & 0o777).toString(8)).toBe('600');
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
    const d = await deployCounterUntilCommitted<View>(fleet, 'tls-sim-1');
    expect(d.running[0]?.version).toBe('1.0.0');
    expect(d.credential).toBe('certificate');
  }, 60_000);

  it('wasmfleet sim over HTTPS: a simulated fleet provisions and its devices connect over mqtts with the CA handed out', async () => {
    const sim = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, ca, devices: 2, prefix: 'tls-fleet', engine, stateDir: tempDir() });
    try {
      await sim.waitFor('both online', (s) => s.online === 2, 20_000);
    } finally {
      await sim.stop();
    }
  }, 30_000);

  it('refuses a certificate from another CA, an expired one, and one whose CN is not the client id', async () => {
    const creds = await addDeviceWithCredentials(fleet.api, 'tls-ref-1', { tags: {}, cert: true, outDir: tempDir() });
    const cert = readFileSync(creds.files!.cert, 'utf8');
    const key = readFileSync(creds.files!.key, 'utf8');
    expect(await tryConnect({ clientId: 'tls-ref-1', cert, key })).toBe('connected');

    // another CA, same CN
    const stranger = await loadIssuer(await createCa('not the fleet CA'));
    const keys = await generateKeyPair();
    const foreign = await issueClientCert(stranger, 'tls-ref-1', keys.publicKey);
    expect(await tryConnect({ clientId: 'tls-ref-1', cert: foreign.certPem, key: await privateKeyPem(keys.privateKey) })).toMatch(/refused: .*Not authorized/);
    expect((await refusalLogged('tls-ref-1', 'CERT_UNTRUSTED')).detail).toMatch(/UNABLE_TO_VERIFY|unable to verify/i);

    // the fleet CA, but expired
    const fleetCa = await loadIssuer({ certPem: ca, keyPem: readFileSync(TLS_FILES.caKey(fleet.dataDir), 'utf8') });
    const old = await generateKeyPair();
    const expired = await issueClientCert(fleetCa, 'tls-ref-2', old.publicKey, { notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    expect(await tryConnect({ clientId: 'tls-ref-2', cert: expired.certPem, key: await privateKeyPem(old.privateKey) })).toMatch(/refused/);
    expect((await refusalLogged('tls-ref-2', 'CERT_UNTRUSTED')).detail).toMatch(/CERT_HAS_EXPIRED|expired/i);

    // a good certificate of device tls-ref-1 used as client id tls-ref-3
    expect(await tryConnect({ clientId: 'tls-ref-3', cert, key })).toMatch(/refused/);
    expect((await refusalLogged('tls-ref-3', 'CERT_IDENTITY_MISMATCH')).detail).toMatch(/tls-ref-1/);
  }, 30_000);

  it('WSS: the same identity rules over a secure WebSocket (certificate read from the upgraded request)', async () => {
    const creds = await addDeviceWithCredentials(fleet.api, 'tls-ws-1', { tags: {}, cert: true, outDir: tempDir() });
    const cert = readFileSync(creds.files!.cert, 'utf8');
    const key = readFileSync(creds.files!.key, 'utf8');
    const viaWss = (clientId: string) =>
      mqtt
        .connectAsync(fleet.server.wsUrl!, { clientId, ca, cert, key, reconnectPeriod: 0, connectTimeout: 5000 })
        .then(async (c) => {
          await c.endAsync();
          return 'connected';
        })
        .catch((err: Error) => `refused: ${err.message}`);
    expect(await viaWss('tls-ws-1')).toBe('connected');
    expect(await viaWss('tls-ws-2')).toMatch(/refused/);
    await refusalLogged('tls-ws-2', 'CERT_IDENTITY_MISMATCH');
  });

  it('a CSR not signed by its own key is refused with CERT_REQUEST_INVALID', async () => {
    const a = await generateKeyPair();
    const b = await generateKeyPair();
    const csr = await createCsr('x', { publicKey: a.publicKey, privateKey: b.privateKey });
    await expect(csrPublicKey(csr)).rejects.toMatchObject({ code: 'CERT_REQUEST_INVALID' });
    await expect(fleet.api.post('/v1/devices', { id: 'tls-bad-csr', csr })).rejects.toMatchObject({ code: 'CERT_REQUEST_INVALID' });
  });

  it('rotate-credentials: the old certificate is refused and the new one accepted; the connected device is disconnected', async () => {
    const dir = tempDir();
    const first = await addDeviceWithCredentials(fleet.api, 'tls-rot-1', { tags: {}, cert: true, outDir: join(dir, 'a') });
    const oldCert = readFileSync(first.files!.cert, 'utf8');
    const oldKey = readFileSync(first.files!.key, 'utf8');
    const live = await mqtt.connectAsync(fleet.server.mqttUrl, { clientId: 'tls-rot-1', ca, cert: oldCert, key: oldKey, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const second = await rotateDeviceCredentials(fleet.api, 'tls-rot-1', { cert: true, outDir: join(dir, 'b') });
    expect(second.certSerial).not.toBe(first.certSerial);
    await closed;
    live.end(true);
    expect(await tryConnect({ clientId: 'tls-rot-1', cert: oldCert, key: oldKey })).toMatch(/refused/);
    await refusalLogged('tls-rot-1', 'CERT_REVOKED');
    expect(await tryConnect({ clientId: 'tls-rot-1', cert: readFileSync(second.files!.cert, 'utf8'), key: readFileSync(second.files!.key, 'utf8') })).toBe('connected');
    // the CRL names the old serial, for an external broker's crlfile
    const crl = await run('openssl', ['crl', '-in', TLS_FILES.crl(fleet.dataDir), '-noout', '-text']);
    expect(crl.stdout.toUpperCase()).toContain(first.certSerial!);
  }, 30_000);

  it('rotate-credentials without --cert: a new password, the old one refused', async () => {
    const first = await fleet.addDevice('tls-pw-1');
    expect(await tryConnect({ clientId: 'tls-pw-1', password: first.password })).toBe('connected');
    const second = await rotateDeviceCredentials(fleet.api, 'tls-pw-1', { outDir: tempDir() });
    expect(second.password).toBeDefined();
    expect(await tryConnect({ clientId: 'tls-pw-1', password: first.password })).toMatch(/refused/);
    expect(await tryConnect({ clientId: 'tls-pw-1', password: second.password })).toBe('connected');
  });

  it('revoke: the connected device is disconnected, its certificate and its password refused, rotation refused', async () => {
    const dir = tempDir();
    const creds = await addDeviceWithCredentials(fleet.api, 'tls-rev-1', { tags: {}, cert: true, outDir: dir });
    const cert = readFileSync(creds.files!.cert, 'utf8');
    const key = readFileSync(creds.files!.key, 'utf8');
    const live = await mqtt.connectAsync(fleet.server.mqttUrl, { clientId: 'tls-rev-1', ca, cert, key, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const pwDevice = await fleet.addDevice('tls-rev-2');

    // the real CLI over HTTPS, trusting the fleet CA
    const cliArgs = ['--server', fleet.server.httpUrl, '--token', fleet.server.operatorToken, '--ca', fleet.server.caFile!];
    await run(process.execPath, [CLI, 'devices', 'revoke', 'tls-rev-1', ...cliArgs]);
    await run(process.execPath, [CLI, 'devices', 'revoke', 'tls-rev-2', ...cliArgs]);
    await closed;
    live.end(true);
    expect(await tryConnect({ clientId: 'tls-rev-1', cert, key })).toMatch(/refused/);
    await refusalLogged('tls-rev-1', 'DEVICE_REVOKED');
    expect(await tryConnect({ clientId: 'tls-rev-2', password: pwDevice.password })).toMatch(/refused/);
    const view = await fleet.api.get<View>('/v1/devices/tls-rev-1');
    expect(view.revokedAt).not.toBeNull();
    await expect(rotateDeviceCredentials(fleet.api, 'tls-rev-1', { cert: true, outDir: dir })).rejects.toMatchObject({ code: 'DEVICE_REVOKED' });
    const list = await run(process.execPath, [CLI, 'devices', 'list', ...cliArgs]);
    expect(list.stdout).toMatch(/tls-rev-1 .*revoked/);
  }, 30_000);

  it('the CLI over HTTPS: devices add --cert writes the key once (0600); without the fleet CA it refuses the server', async () => {
    const dir = tempDir();
    const args = ['--server', fleet.server.httpUrl, '--token', fleet.server.operatorToken];
    const r = await run(process.execPath, [CLI, 'devices', 'add', 'tls-cli-1', '--cert', '--out', dir, '--ca', fleet.server.caFile!, ...args], { cwd: dir });
    expect(r.stdout).toContain(`key       ${join(dir, 'tls-cli-1.key')} (0600)`);
    expect(r.stdout).not.toContain('password');
    expect((statSync(join(dir, 'tls-cli-1.key')).mode & 0o777).toString(8)).toBe('600');
    expect(readFileSync(join(dir, 'tls-cli-1.key'), 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(ca);
    // no --ca and no <data>/tls/ca.crt in the working directory: the server's certificate is not trusted
    const refused = await run(process.execPath, [CLI, 'devices', 'list', ...args], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 1 });
    expect((refused as { stderr: string }).stderr).toMatch(/error CERT_UNTRUSTED: .*--ca/);
  }, 30_000);
});

describe('the generated server certificate', () => {
  const sans = async (dataDir: string) => (await run('openssl', ['x509', '-in', TLS_FILES.serverCert(dataDir), '-noout', '-ext', 'subjectAltName'])).stdout;

  it('names the listen host, localhost, 127.0.0.1 and each --tls-host; a new host re-issues it under the same CA', async () => {
    const dataDir = join(tempDir(), 'data');
    await prepareFleetTls(dataDir, '10.1.2.3', { hosts: ['fleet.example.com'] });
    const first = await sans(dataDir);
    for (const name of ['IP Address:10.1.2.3', 'DNS:localhost', 'IP Address:127.0.0.1', 'DNS:fleet.example.com']) expect(first).toContain(name);
    const ca = readFileSync(TLS_FILES.caCert(dataDir), 'utf8');
    await prepareFleetTls(dataDir, '10.1.2.3', { hosts: ['fleet.example.com', 'broker.example.com'] });
    expect(await sans(dataDir)).toContain('DNS:broker.example.com');
    expect(readFileSync(TLS_FILES.caCert(dataDir), 'utf8')).toBe(ca);
    // a wildcard listen address is not a name: the certificate names the others
    const wildcard = join(tempDir(), 'data');
    await prepareFleetTls(wildcard, '0.0.0.0');
    const names = await sans(wildcard);
    expect(names).toContain('IP Address:127.0.0.1');
    expect(names).not.toContain('0.0.0.0');
  });
});

describe('bring your own CA (--tls-cert/--tls-key/--tls-ca, no CA key)', () => {
  it('devices with certificates from the operator CA connect; devices add --cert is refused; revoke still shuts one out', async () => {
    const dir = tempDir();
    const own = await createCa('operator CA');
    const issuer = await loadIssuer(own);
    const server = await issueServerCert(issuer, ['127.0.0.1']);
    const file = (name: string, pem: string) => {
      writeFileSync(join(dir, name), pem, { mode: 0o600 });
      return join(dir, name);
    };
    const fleet = await startFleet({ tls: { certFile: file('server.crt', server.certPem), keyFile: file('server.key', server.keyPem), caFile: file('ca.crt', own.certPem) } });
    try {
      expect(fleet.server.caFile).toBe(join(dir, 'ca.crt'));
      await fleet.addDevice('byo-1');
      await expect(addDeviceWithCredentials(fleet.api, 'byo-2', { tags: {}, cert: true, outDir: dir })).rejects.toMatchObject({ code: 'TLS_CA_KEY_MISSING' });
      const keys = await generateKeyPair();
      const cert = (await issueClientCert(issuer, 'byo-1', keys.publicKey)).certPem;
      const key = await privateKeyPem(keys.privateKey);
      const attempt = () =>
        mqtt
          .connectAsync(fleet.server.mqttUrl, { clientId: 'byo-1', ca: own.certPem, cert, key, reconnectPeriod: 0, connectTimeout: 5000 })
          .then(async (c) => {
            await c.endAsync();
            return 'connected';
          })
          .catch((err: Error) => `refused: ${err.message}`);
      expect(await attempt()).toBe('connected');
      await fleet.api.post('/v1/devices/byo-1/revoke', {});
      expect(await attempt()).toMatch(/refused/);
    } finally {
      await fleet.close();
    }
  });
});

describe('clear text beyond loopback', () => {
  it('startServer refuses a non-loopback listen without TLS or --insecure', async () => {
    const dir = tempDir();
    const err = await startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), host: '0.0.0.0', httpPort: 0, mqttPort: 0, wsPort: false, log: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WfError);
    expect((err as WfError).code).toBe('TRANSPORT_INSECURE');
  });

  it('wasmfleet server --host 0.0.0.0 exits 1 with TRANSPORT_INSECURE and says what to do', async () => {
    const dir = tempDir();
    const e = await run(process.execPath, [CLI, 'server', '--host', '0.0.0.0', '--data', join(dir, 'data'), '--keys', join(dir, 'keys')]).catch((x: { code: number; stderr: string }) => x);
    expect(e).toMatchObject({ code: 1 });
    expect((e as { stderr: string }).stderr).toMatch(/error TRANSPORT_INSECURE: .*listening on 0\.0\.0\.0 in clear text: add --tls .*--insecure/);
  });
});
