// A real C device (firmware-host/build/wasmfleet-device, WAMR + libmosquitto + libsodium) as a
// child process of a test, and the build that makes it. Shared by every suite that runs C devices.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, type DeviceCredentials } from './server.js';

const ROOT = process.cwd();
export const DEVICE_BIN = join(ROOT, 'firmware-host', 'build', 'wasmfleet-device');

/**
 * Build the C host (incremental) and say whether it is there. The project installs its toolchain
 * (scripts/system-deps.sh), so a failed build fails the calling suite with the build's own
 * message; it is never skipped.
 */
export function buildCDevice(): { ok: boolean; message: string } {
  let message = '';
  try {
    execFileSync('bash', [join(ROOT, 'firmware-host', 'scripts', 'build.sh'), '--strict'], { stdio: 'pipe', timeout: 600_000 });
  } catch (err) {
    message = String((err as { stderr?: Buffer }).stderr ?? err);
  }
  return { ok: existsSync(DEVICE_BIN), message };
}

export class CDevice {
  child?: ChildProcess;
  log = '';
  constructor(
    readonly creds: Omit<DeviceCredentials, 'password'> & { password?: string },
    /** More flags; a flag given again here overrides the default above it (the host reads the last). */
    readonly extra: string[] = [],
    readonly stateDir: string = tempDir('wf-cdev-').toString(),
  ) {}

  start(env: Record<string, string> = {}): void {
    this.log = '';
    // The password travels in the environment, never on the command line; a certificate replaces it.
    const secret: Record<string, string> = this.creds.password ? { WASMFLEET_DEVICE_PASSWORD: this.creds.password } : {};
    const args = [
      '--url', this.creds.mqttUrl, '--id', this.creds.id, ...(this.creds.password ? ['--username', this.creds.username] : []),
      '--root-key', this.creds.rootPublicKey,
      '--state-dir', this.stateDir, '--probation-ticks', '3', ...this.extra,
    ];
    const child = spawn(DEVICE_BIN, args, {
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', ...secret, ...env },
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
