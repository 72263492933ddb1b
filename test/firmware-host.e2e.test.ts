// The C host end to end: the real fleet server (aedes + SQLite) deploys to real wasmfleet-device
// processes (firmware-host/, WAMR + libmosquitto + libsodium). Three devices commit, revert a
// trapping module by themselves and follow a CLI rollback; one device is killed with SIGKILL at
// every storage write of an install (MCUboot's habit) and must come back on a valid slot and finish.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeviceWithCredentials } from '../cli/commands/device-credentials.js';
import { prepareFleetTls, TLS_FILES } from '../server/tls/fleet-tls.js';
import { buildCDevice, CDevice } from './helpers/c-device.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { startFleet, tempDir, waitFor, type TestFleet } from './helpers/server.js';

const ROOT = process.cwd();
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

interface DeviceView {
  id: string;
  online: boolean;
  state: string;
  reason: string | null;
  sequence: number;
  running: Array<{ component: string; version: string; manifestDigest: string }>;
}

const build = buildCDevice();
const buildMessage = build.message;
const haveDevice = build.ok;

/**
 * The slot the device runs after a restart, read from its state directory the way the boot
 * decision table does: the confirmed slot with the higher sequence; its image must hash to the
 * digest in its trailer (docs/firmware-host.md §4).
 */
function activeSlot(stateDir: string): { sequence: number; sha256: string; imageSha256: string } | undefined {
  let best: { sequence: number; sha256: string; imageSha256: string } | undefined;
  for (const slot of [0, 1]) {
    const trailerPath = join(stateDir, `slot${slot}.trailer`);
    if (!existsSync(trailerPath)) continue;
    const t = readFileSync(trailerPath);
    const magic = t.subarray(256, 272);
    if (magic.subarray(0, 6).toString() !== 'wfslot' || t[304] !== 1) continue;
    const sequence = Number(t.readBigUInt64LE(0));
    const size = t.readUInt32LE(8);
    const sha256 = t.subarray(12, 44).toString('hex');
    const image = readFileSync(join(stateDir, `slot${slot}.img`)).subarray(0, size);
    const imageSha256 = createHash('sha256').update(image).digest('hex');
    if (!best || sequence > best.sequence) best = { sequence, sha256, imageSha256 };
  }
  return best;
}

/** The "count" entry of the C device's kv.bin (u8 key length, u16 LE value length, key, value). */
function kvCount(stateDir: string): number | undefined {
  const b = readFileSync(join(stateDir, 'kv.bin'));
  for (let pos = 0; pos + 3 <= b.length; ) {
    const klen = b[pos];
    const vlen = b.readUInt16LE(pos + 1);
    const key = b.subarray(pos + 3, pos + 3 + klen).toString();
    if (key === 'count' && vlen === 4) return b.readUInt32LE(pos + 3 + klen);
    pos += 3 + klen + vlen;
  }
  return undefined;
}

describe('C host (wasmfleet-device) against the real server', () => {
  let fleet: TestFleet;
  const devices: CDevice[] = [];

  const view = (id: string) => fleet.api.get<DeviceView>(`/v1/devices/${id}`);
  const waitState = (id: string, check: (d: DeviceView) => boolean, what: string, timeoutMs = 30_000) =>
    waitFor(`${id}: ${what}`, async () => {
      const d = await view(id);
      return check(d) ? d : undefined;
    }, timeoutMs);
  const deploy = (module: string, version: string, ids: string[], config?: Record<string, string>) =>
    fleet.api.post<{ devices: Array<{ id: string; sequence: number }> }>('/v1/deployments', { module, version, devices: ids, config });

  beforeAll(async () => {
    if (!haveDevice) throw new Error(`firmware-host/build/wasmfleet-device was not built: ${buildMessage.trim()}`);
    fleet = await startFleet();
  });

  afterAll(async () => {
    for (const d of devices) await d.stop();
    await fleet?.close();
  });

  it('three devices commit, revert a trapping module on their own, and follow a CLI rollback', async () => {
    const ids = ['c-dev-1', 'c-dev-2', 'c-dev-3'];
    for (const id of ids) {
      const dev = new CDevice(await fleet.addDevice(id));
      devices.push(dev);
      dev.start();
    }
    for (const id of ids) await waitState(id, (d) => d.online, 'online');

    await fleet.publish('counter', 'counter', '1.0.0');
    await deploy('counter', '1.0.0', ids);
    for (const id of ids) {
      const d = await waitState(id, (v) => v.state === 'committed' && v.running[0]?.version === '1.0.0', 'committed 1.0.0');
      expect(d.sequence).toBe(1);
    }

    // wf_init traps: each device reverts by itself and runs 1.0.0 again
    await fleet.publish('trap-init', 'counter', '1.1.0');
    await deploy('counter', '1.1.0', ids);
    for (const id of ids) {
      const d = await waitState(id, (v) => v.state === 'rolled_back', 'rolled_back');
      expect(d.reason).toBe('MODULE_TRAP');
      expect(d.running[0]?.version).toBe('1.0.0');
      expect(d.sequence).toBe(1);
    }

    // a good 1.2.0, then the operator rolls back with the real CLI (release-signed authorization)
    await fleet.publish('counter', 'counter', '1.2.0');
    await deploy('counter', '1.2.0', ids);
    for (const id of ids) await waitState(id, (v) => v.state === 'committed' && v.running[0]?.version === '1.2.0', 'committed 1.2.0');
    // async: the server runs in this process, a synchronous child would starve it
    await promisify(execFile)(process.execPath, [CLI, 'rollback', '--device', ids.join(','), '--server', fleet.server.httpUrl,
      '--token', fleet.server.operatorToken, '--keys', fleet.keysDir, '--json']);
    for (const id of ids) {
      const d = await waitState(id, (v) => v.state === 'committed' && v.running[0]?.version === '1.0.0', 'rolled back to 1.0.0 by the CLI');
      expect(d.sequence).toBeGreaterThan(3);
    }
    for (const dev of devices) {
      expect(dev.alive()).toBe(true);
      await dev.stop();
    }
    // SIGTERM is a clean exit: the server sees the device offline
    for (const id of ids) await waitState(id, (v) => !v.online, 'offline after SIGTERM');
  }, 120_000);

  it('a new config for the running release is applied under probation; a failed trial leaves no kv behind', async () => {
    const creds = await fleet.addDevice('c-cfg');
    const dev = new CDevice(creds, ['--capabilities', 'clock,config,gpio,kv,log,sensor,telemetry']);
    devices.push(dev);
    dev.start();
    await waitState(creds.id, (d) => d.online, 'online');
    // The C example reads "threshold" from its config in wf_init and fails without it.
    await fleet.publish(join(ROOT, 'examples', 'build', 'threshold-alarm.wasm'), 'alarm', '1.0.0');
    await deploy('alarm', '1.0.0', [creds.id], { threshold: '0.5' });
    await waitState(creds.id, (v) => v.state === 'committed' && v.sequence === 1, 'committed with a threshold');
    // The same release again without a threshold: applied (as an update), so wf_init fails and it reverts.
    await deploy('alarm', '1.0.0', [creds.id], { pin: '12' });
    const r = await waitState(creds.id, (v) => v.state === 'rolled_back', 'the config without a threshold rolled back');
    expect(r).toMatchObject({ reason: 'MODULE_INIT_FAILED', sequence: 1 });

    // kv: counter counts in kv; a trial that writes count = 1000 and then traps is undone with its kv.
    await fleet.publish('counter', 'alarm', '2.0.0');
    await deploy('alarm', '2.0.0', [creds.id]);
    await waitState(creds.id, (v) => v.state === 'committed' && v.running[0]?.version === '2.0.0', 'counter committed');
    const dir = tempDir('wf-kvtrap-');
    const wat = join(dir, 'kv-then-trap.wat');
    writeFileSync(wat, `(module (import "wf" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1 1) (data (i32.const 0) "count") (data (i32.const 64) "\\e8\\03\\00\\00")
      (func (export "wf_init") (result i32) (drop (call $kv_set (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 4))) (i32.const 0))
      (func (export "wf_tick") (result i32) unreachable))`);
    await fleet.publish(wat, 'alarm', '3.0.0');
    await deploy('alarm', '3.0.0', [creds.id]);
    const t = await waitState(creds.id, (v) => v.state === 'rolled_back' && v.reason === 'MODULE_TRAP', 'the kv-writing trial rolled back');
    expect(t.running[0]?.version).toBe('2.0.0');
    await dev.stop(); // kv.bin as the device left it
    const count = kvCount(dev.stateDir);
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(1000);
  }, 120_000);

  it('kill -9 at every storage write of an install: after a restart it runs a valid slot and finishes', async () => {
    const creds = await fleet.addDevice('c-kill');
    // 256-byte chunks: the counter module (276 bytes) takes two, so a kill can land mid-download
    const dev = new CDevice(creds, ['--max-chunk', '256']);
    devices.push(dev);
    dev.start();
    await waitState(creds.id, (d) => d.online, 'online');
    const base = await fleet.publish('counter', 'kcounter', '1.0.0');
    await deploy('kcounter', '1.0.0', [creds.id]);
    await waitState(creds.id, (v) => v.state === 'committed', 'baseline committed');
    await dev.stop();

    const killedIn = new Set<string>();
    let completed = false;
    for (let point = 1; point <= 40 && !completed; point++) {
      const version = `2.0.${point}`;
      const published = await fleet.publish('counter', 'kcounter', version);
      dev.start({ WF_CRASH_AT_WRITE: String(point) });
      await waitState(creds.id, (d) => d.online, 'online');
      const { devices: [{ sequence }] } = await deploy('kcounter', version, [creds.id]);
      // either the kill lands, or the install runs through without reaching that write
      const outcome = await Promise.race([
        dev.exited().then((signal) => ({ killed: signal === 'SIGKILL' })),
        waitState(creds.id, (v) => v.state === 'committed' && v.sequence === sequence, 'committed', 30_000).then(() => ({ killed: false })),
      ]);
      if (!outcome.killed) {
        completed = true;
        await dev.stop();
        break;
      }
      killedIn.add(dev.lastLoggedState() ?? 'committed');
      // after the kill: the slot it will boot is valid (its bytes hash to its recorded digest)
      const slot = activeSlot(dev.stateDir);
      expect(slot, `a committed slot after a kill at write ${point}`).toBeDefined();
      expect(slot!.imageSha256).toBe(slot!.sha256);
      expect([base.sha256, published.sha256]).toContain(slot!.sha256);
      // restart without the kill: it finishes the install (the directive is retained)
      dev.start();
      const done = await waitState(creds.id, (v) => v.state === 'committed' && v.sequence === sequence, `finish after a kill at write ${point}`);
      expect(done.running[0]?.version).toBe(version);
      const after = activeSlot(dev.stateDir)!;
      expect(after.sha256).toBe(published.sha256);
      expect(after.imageSha256).toBe(published.sha256);
      await dev.stop();
    }
    expect(completed).toBe(true);
    // the kills covered every step of an install
    for (const step of ['downloading', 'installing', 'probation']) expect([...killedIn]).toContain(step);
  }, 300_000);
});

describe('C host over TLS (mqtts://, libmosquitto + OpenSSL)', () => {
  let fleet: TestFleet;
  const devices: CDevice[] = [];
  const view = (id: string) => fleet.api.get<DeviceView>(`/v1/devices/${id}`);
  const waitState = (id: string, check: (d: DeviceView) => boolean, what: string) =>
    waitFor(`${id}: ${what}`, async () => {
      const d = await view(id);
      return check(d) ? d : undefined;
    }, 30_000);

  beforeAll(async () => {
    if (!haveDevice) throw new Error(`firmware-host/build/wasmfleet-device was not built: ${buildMessage.trim()}`);
    fleet = await startFleet({ tls: true });
  });

  afterAll(async () => {
    for (const d of devices) await d.stop();
    await fleet?.close();
  });

  it('with a client certificate it takes an update; after devices revoke the broker refuses it', async () => {
    const dir = tempDir('wf-ccert-');
    const creds = await addDeviceWithCredentials(fleet.api, 'c-tls-1', { tags: {}, cert: true, outDir: dir });
    const f = creds.files!;
    const dev = new CDevice(creds, ['--ca', f.ca!, '--cert', f.cert, '--key', f.key]);
    devices.push(dev);
    dev.start();
    await waitState('c-tls-1', (d) => d.online, 'online over TLS');
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['c-tls-1'] });
    const d = await waitState('c-tls-1', (v) => v.state === 'committed', 'committed 1.0.0');
    expect(d.running[0]?.version).toBe('1.0.0');

    await fleet.api.post('/v1/devices/c-tls-1/revoke', {});
    await waitFor('the revoked C device refused on reconnect', () => /connection refused/i.test(dev.log));
    expect(dev.alive()).toBe(true);
  }, 90_000);

  it('with a password from --password-file over TLS; --password on the command line is refused', async () => {
    const creds = await fleet.addDevice('c-tls-pw');
    const dir = tempDir('wf-cpw-');
    const pwFile = join(dir, 'password');
    writeFileSync(pwFile, creds.password + '\n', { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), creds.caCertificate!);
    const dev = new CDevice({ ...creds, password: undefined }, ['--username', creds.id, '--password-file', pwFile, '--ca', join(dir, 'ca.crt')]);
    devices.push(dev);
    dev.start();
    await waitState('c-tls-pw', (v) => v.online, 'online with --password-file');
    await dev.stop();

    const onCommandLine = new CDevice(creds, ['--password', creds.password]);
    onCommandLine.start();
    expect(await onCommandLine.exited()).toBe(2);
    expect(onCommandLine.log).toMatch(/--password is not taken on the command line .*--password-file/);
  }, 60_000);
});

describe('C host on an external mosquitto over TLS (require_certificate, use_identity_as_username)', () => {
  let mosq: Mosquitto;
  let fleet: TestFleet;
  let dev: CDevice | undefined;
  const dataDir = join(tempDir('wf-cmosq-'), 'data');

  beforeAll(async () => {
    if (!haveDevice) throw new Error(`firmware-host/build/wasmfleet-device was not built: ${buildMessage.trim()}`);
    const tls = await prepareFleetTls(dataDir, '127.0.0.1');
    mosq = await startMosquitto({ tls: { cafile: tls.caFile, certfile: TLS_FILES.serverCert(dataDir), keyfile: TLS_FILES.serverKey(dataDir), crlfile: tls.crlFile } });
    fleet = await startFleet({ dataDir, brokerUrl: mosq.serverUrl, tls: true });
  });

  afterAll(async () => {
    await dev?.stop();
    await fleet?.close();
    await mosq?.stop();
  });

  it('connects with its client certificate and takes an update', async () => {
    const creds = await addDeviceWithCredentials(fleet.api, 'c-mtls-1', { tags: {}, cert: true, outDir: tempDir('wf-cmcert-') });
    const f = creds.files!;
    dev = new CDevice(creds, ['--ca', f.ca!, '--cert', f.cert, '--key', f.key]);
    dev.start();
    const view = (id: string) => fleet.api.get<DeviceView>(`/v1/devices/${id}`);
    await waitFor('online via mosquitto', async () => (await view('c-mtls-1')).online);
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['c-mtls-1'] });
    const d = await waitFor('committed via mosquitto', async () => {
      const v = await view('c-mtls-1');
      return v.state === 'committed' ? v : undefined;
    }, 30_000);
    expect(d.running[0]?.version).toBe('1.0.0');
  }, 60_000);
});
