// Issue 9 finding 1: one authenticated device must not be able to stop the server with one small
// message. Shared-value tags 28/29 let 9n+6 bytes stand for 2^n values; a decoder that builds them
// (cbor-x does) blocks the event loop and dies out of memory. The server runs as its own process
// (the real startServer, embedded aedes, SQLite) with a capped heap, so that on a vulnerable build
// it is the server that dies, not the test runner; a real mqtt client publishes as the device.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import { deviceTopic, encodeHello } from '../protocol/index.js';
import { sharedValueBomb } from '../protocol/vector-builder.js';
import { connectAs, tempDir, waitFor, type DeviceCredentials } from './helpers/server.js';

const BOMB = sharedValueBomb(26); // 245 bytes, 2^26 leaves once expanded

// The real server in a child process: pino JSON logs on stderr, its URLs on stdout.
const CHILD = `
import pino from 'pino';
import { startServer } from './dist/server/index.js';
const [dataDir, keysDir] = process.argv.slice(-2);
const server = await startServer({ dataDir, keysDir, httpPort: 0, mqttPort: 0, wsPort: false, operatorToken: 'tok',
  log: pino({ level: 'warn' }, pino.destination(2)) });
process.stdout.write(JSON.stringify({ http: server.httpUrl, mqtt: server.mqttUrl }) + '\\n');
`;

interface Rejection {
  device: string;
  topic: string;
  code: string;
  msg: string;
}

let dir: string;
let proc: ChildProcess;
let api: ApiClient;
let httpUrl: string;
let stderr = '';

const rejections = (): Rejection[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Rejection)
    .filter((r) => r.msg === 'device message rejected');

/** Resident memory of the server process, in MiB (Linux /proc). */
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1]) / 1024;

/** Both API calls answer within a second each: the event loop is free. */
async function apiAnswers(): Promise<void> {
  const health = await fetch(`${httpUrl}/v1/health`, { signal: AbortSignal.timeout(1000) });
  expect(health.status).toBe(200);
  const devices = await fetch(`${httpUrl}/v1/devices`, { headers: { authorization: 'Bearer tok' }, signal: AbortSignal.timeout(1000) });
  expect(devices.status).toBe(200);
}

beforeAll(async () => {
  dir = tempDir('wf-bomb-');
  initKeys(join(dir, 'keys'));
  proc = spawn(process.execPath, ['--max-old-space-size=192', '--input-type=module', '-e', CHILD, '--', join(dir, 'data'), join(dir, 'keys')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const urls = await waitFor('server up', () => (stdout.includes('\n') ? (JSON.parse(stdout.split('\n')[0]) as { http: string }) : undefined));
  httpUrl = urls.http;
  api = new ApiClient({ server: httpUrl, token: 'tok' });
});

afterAll(async () => {
  if (proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }
});

describe('a shared-value bomb from an authenticated device (tags 28/29)', () => {
  it('is refused as CBOR_UNSUPPORTED on hello, report and telemetry; the API keeps answering and memory stays bounded', async () => {
    expect(BOMB.length).toBeLessThan(250);
    const creds = await api.post<DeviceCredentials>('/v1/devices', { id: 'bomber' });
    const device = await connectAs(creds);
    await apiAnswers();
    const before = rssMiB();

    const topics = ['hello', 'report', 'telemetry'] as const;
    for (const [i, topic] of topics.entries()) {
      await device.publishAsync(deviceTopic('bomber', topic), Buffer.from(BOMB), { qos: 1 });
      await waitFor(`refusal of the ${topic} bomb logged`, () => rejections().length > i, 10_000);
      await apiAnswers();
    }
    expect(rejections().map((r) => [r.device, r.topic, r.code])).toEqual(topics.map((t) => ['bomber', t, 'CBOR_UNSUPPORTED']));
    expect(rejections()[0].msg).toBe('device message rejected');
    expect(proc.exitCode).toBeNull();
    expect(rssMiB() - before, 'server RSS growth in MiB').toBeLessThan(32);

    // The device is still served: a valid hello afterwards is recorded.
    await device.publishAsync(
      deviceTopic('bomber', 'hello'),
      Buffer.from(encodeHello({ host: 'v8', abi: 1, capabilities: ['log'], maxChunk: 4096, memory: 65536, agent: 'after-the-bomb' })),
      { qos: 1 },
    );
    await waitFor('valid hello recorded', async () => JSON.stringify(await api.get(`/v1/devices/bomber`)).includes('after-the-bomb'));
    await device.endAsync();
  }, 60_000);
});
