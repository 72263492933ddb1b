// Issue 9, finding 7: a full or read-only disk on a real small file system (tmpfs; the tests mount
// it, so they run as root). Nothing cut short is kept under a content address, a damaged blob is
// repaired by the next upload, disk faults are typed errors naming the path, and telemetry under a
// full disk costs one warning per interval, not one per message.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModuleFile } from '../cli/wat.js';
import { deviceTopic, encodeTelemetry, sha256, toHex, WfError } from '../protocol/index.js';
import { FileBlobStore } from '../server/store/blobs.js';
import { captureLog } from './helpers/log-capture.js';
import { connectAs, EXAMPLES, startFleet, tempDir, waitFor } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const mounts: string[] = [];

function tmpfs(size: string, dir = tempDir('wf-tmpfs-')): string {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Fill a file system up to `leave` bytes free. */
function fill(dir: string, leave: number): string {
  const filler = join(dir, 'filler');
  const free = Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().split('\n')[1]);
  writeFileSync(filler, Buffer.alloc(Math.max(0, free - leave)));
  return filler;
}

async function cli(args: string[], env: Record<string, string>) {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** counter.wat plus a custom section of `pad` bytes: a valid module of any size. */
async function paddedModule(pad: number): Promise<Buffer> {
  const wasm = Buffer.from(await loadModuleFile(join(EXAMPLES, 'counter.wat')));
  const leb = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return Buffer.from(out);
  };
  const body = Buffer.concat([leb(3), Buffer.from('pad'), randomBytes(pad)]);
  return Buffer.concat([wasm, Buffer.from([0]), leb(body.length), body]);
}

afterAll(() => {
  for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
});

describe('blob store on a full file system', () => {
  it('a put that hits a full disk throws STORE_DISK_FULL naming the path and leaves nothing behind', async () => {
    const dir = tmpfs('256k');
    const store = new FileBlobStore(join(dir, 'blobs'));
    const bytes = randomBytes(300 * 1024);
    const hex = toHex(sha256(bytes));
    let err: unknown;
    try {
      await store.put(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WfError);
    expect((err as WfError).code).toBe('STORE_DISK_FULL');
    expect((err as WfError).message).toContain(join(dir, 'blobs', 'sha256', hex.slice(0, 2)));
    expect(readdirSync(join(dir, 'blobs', 'sha256', hex.slice(0, 2)))).toEqual([]); // no final name, no temp file
    expect(await store.get(hex)).toBeUndefined();
  });

  it('a cut-short file under a final name is not trusted: get refuses it, the next put repairs it', async () => {
    const dir = tmpfs('1m');
    const store = new FileBlobStore(join(dir, 'blobs'));
    const bytes = randomBytes(200 * 1024);
    const hex = toHex(sha256(bytes));
    // What a full disk used to leave: the first bytes under the content address.
    mkdirSync(join(dir, 'blobs', 'sha256', hex.slice(0, 2)), { recursive: true });
    const final = join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex);
    writeFileSync(final, bytes.subarray(0, 4096));
    expect(await store.get(hex)).toBeUndefined();
    expect(await store.put(bytes)).toBe(hex);
    expect(Buffer.from(readFileSync(final)).equals(bytes)).toBe(true);
    expect(Buffer.from((await store.get(hex))!).equals(bytes)).toBe(true);
  });
});

describe('the server on a full or read-only data directory', () => {
  it('module publish on a full disk exits 1 with STORE_DISK_FULL; after freeing space it publishes the exact bytes', async () => {
    const dir = tmpfs('8m');
    const fleet = await startFleet({ dataDir: join(dir, 'data') });
    try {
      const env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
      const file = join(fleet.dir, 'padded.wasm');
      const wasm = await paddedModule(512 * 1024);
      writeFileSync(file, wasm);
      const filler = fill(dir, 128 * 1024);
      const full = await cli(['module', 'publish', file, '--name', 'padded', '--version', '1.0.0'], env);
      expect(full.code).toBe(1);
      expect(full.stderr).toMatch(new RegExp(`^error STORE_DISK_FULL: the data directory is full: ${join(dir, 'data', 'blobs')}\\S+: ENOSPC`));
      expect((await fleet.api.get<{ modules: Array<{ name: string }> }>('/v1/modules')).modules.map((m) => m.name)).not.toContain('padded');

      rmSync(filler);
      const again = await cli(['module', 'publish', file, '--name', 'padded', '--version', '1.0.0'], env);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^published padded@1\.0\.0/);
      const hex = toHex(sha256(wasm));
      expect(toHex(sha256(readFileSync(join(dir, 'data', 'blobs', 'sha256', hex.slice(0, 2), hex))))).toBe(hex);
    } finally {
      await fleet.close();
    }
  });

  it('telemetry under a full disk: one warning per interval, not per message; the latest value is written once there is space', async () => {
    const dir = tmpfs('8m');
    const cap = captureLog('warn');
    const fleet = await startFleet({ dataDir: join(dir, 'data'), log: cap.log, telemetryBatch: { flushMs: 20, warnIntervalMs: 60_000 } });
    try {
      const creds = await fleet.addDevice('telem-1');
      const device = await connectAs(creds);
      const filler = fill(dir, 0);
      for (let i = 1; i <= 200; i++) {
        await device.publishAsync(deviceTopic(creds.id, 'telemetry'), Buffer.from(encodeTelemetry({ name: 'temp', value: i, time: 1000 + i })), { qos: 1 });
      }
      await waitFor('a failed flush', () => cap.count('telemetry not written; held in memory, retrying') >= 1);
      await new Promise((r) => setTimeout(r, 300)); // several more failed flushes
      expect(cap.count('telemetry not written; held in memory, retrying')).toBe(1);
      expect(cap.lines.filter((l) => l.msg === 'device message rejected')).toEqual([]);
      // The API still shows the latest value (held in memory).
      const shown = await fleet.api.get<{ telemetry: Array<{ name: string; value: number }> }>(`/v1/devices/${creds.id}`);
      expect(shown.telemetry).toEqual([expect.objectContaining({ name: 'temp', value: 200 })]);

      rmSync(filler);
      const db = new Database(join(dir, 'data', 'wasmfleet.db'), { readonly: true });
      try {
        await waitFor('telemetry written', () => (db.prepare("SELECT value FROM telemetry WHERE device_id = 'telem-1'").get() as { value: number } | undefined)?.value === 200);
      } finally {
        db.close();
      }
      await device.endAsync();
    } finally {
      await fleet.close();
    }
  });

  it('wasmfleet server on a read-only data directory exits 1 with STORE_READ_ONLY naming the path, no stack trace', async () => {
    const keys = join(tempDir(), 'keys');
    expect((await cli(['keys', 'init', '--dir', keys], {})).code).toBe(0);
    const dir = tmpfs('4m');
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    for (const data of [dir, join(dir, 'data')]) {
      const r = await cli(['server', '--data', data, '--keys', keys, '--http-port', '0', '--mqtt-port', '0', '--no-ws'], { WASMFLEET_LOG: 'silent' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error STORE_READ_ONLY: the data directory is not writable: ${data}\\S*: (EROFS|SQLITE_READONLY|SQLITE_CANTOPEN)`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });
});
