// The C host end to end: the real fleet server (aedes + SQLite) deploys to real wasmfleet-device
// processes (firmware-host/, WAMR + libmosquitto + libsodium). Three devices commit, revert a
// trapping module by themselves and follow a CLI rollback; one device is killed with SIGKILL at
// every storage write of an install (MCUboot's habit) and must come back on a valid slot and finish.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, tempDir, waitFor, type DeviceCredentials, type TestFleet } from './helpers/server.js';

const ROOT = process.cwd();
const DEVICE_BIN = join(ROOT, 'firmware-host', 'build', 'wasmfleet-device');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

interface DeviceView {
  id: string;
  online: boolean;
  state: string;
  reason: string | null;
  sequence: number;
  running: Array<{ component: string; version: string; manifestDigest: string }>;
}

// Build the C host once (incremental). The project installs its toolchain (scripts/system-deps.sh),
// so a failed build fails this suite with the build's own message; it is never skipped.
let buildMessage = '';
try {
  execFileSync('bash', [join(ROOT, 'firmware-host', 'scripts', 'build.sh'), '--strict'], { stdio: 'pipe', timeout: 600_000 });
} catch (err) {
  buildMessage = String((err as { stderr?: Buffer }).stderr ?? err);
}
const haveDevice = existsSync(DEVICE_BIN);

class CDevice {
  child?: ChildProcess;
  log = '';
  readonly stateDir = tempDir('wf-cdev-').toString();

  constructor(
    readonly creds: DeviceCredentials,
    readonly extra: string[] = [],
  ) {}

  start(env: Record<string, string> = {}): void {
    this.log = '';
    const args = [
      '--url', this.creds.mqttUrl, '--id', this.creds.id, '--username', this.creds.username,
      '--password', this.creds.password, '--root-key', this.creds.rootPublicKey,
      '--state-dir', this.stateDir, '--probation-ticks', '3', ...this.extra,
    ];
    const child = spawn(DEVICE_BIN, args, {
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
  }

  exited(): Promise<NodeJS.Signals | number | null> {
    const child = this.child!;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode ?? child.exitCode);
      child.once('exit', (code, signal) => resolve(signal ?? code));
    });
  }

  alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.alive()) return;
    this.child!.kill('SIGTERM');
    await this.exited();
  }

  /** The last state the device logged before now ("agent: state downloading" lines). */
  lastLoggedState(): string | undefined {
    const states = [...this.log.matchAll(/agent: state (\w+)/g)].map((m) => m[1]);
    return states.at(-1);
  }
}

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
