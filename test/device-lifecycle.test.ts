// Stopping an agent stops everything it started: no timer, socket or module survives stop(),
// whether it stops while idle, mid-download or mid-probation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, toHex } from '../protocol/index.js';
import { DeviceAgent, type AgentOptions } from '../device-sim/agent.js';
import { createEngine } from '../device-sim/engine/select.js';
import type { WasmEngine } from '../device-sim/engine/types.js';
import { FakeServer, paddedCounter, Signer, startBroker, tempDir, until, wasm, type TestBroker } from './device-fixture.js';

let broker: TestBroker;
let server: FakeServer;
let engine: WasmEngine;
const signer = new Signer();
const dirs: { remove(): void }[] = [];

beforeAll(async () => {
  broker = await startBroker();
  server = await FakeServer.connect(broker.url);
  engine = createEngine(undefined, { workers: 1 }).engine;
});

afterAll(async () => {
  await engine?.close();
  await server?.close();
  await broker?.stop();
  for (const d of dirs) d.remove();
});

const handles = () => {
  const all = process.getActiveResourcesInfo();
  return { timers: all.filter((r) => r === 'Timeout').length, sockets: all.filter((r) => r === 'TCPSocketWrap').length };
};

function options(id: string): AgentOptions {
  const dir = tempDir();
  dirs.push(dir);
  return { deviceId: id, mqttUrl: broker.url, password: 't', rootPublicKey: signer.root.publicKey, stateDir: dir.path, engine, chunkSize: 1024, chunkTimeoutMs: 300, chunkTries: 1000 };
}

describe('device agent lifecycle', () => {
  it('leaves no timers or sockets behind when stopped mid-download or mid-probation', async () => {
    const counter = await wasm('counter');
    const big = await paddedCounter(20_000);
    server.addImage(counter);
    server.addImage(big);
    const before = handles();

    // Mid-download: the big image's later chunks never come.
    const bigSha = toHex(sha256(big));
    server.fault = (req, data) => (toHex(req.sha256) === bigSha && req.index >= 5 ? null : data);
    const a = new DeviceAgent(options('life-1'));
    await a.start();
    await until('online', () => a.status().connected);
    await server.publishDirective(a.id, signer.bundle({ device: a.id, sequence: 1, releases: [signer.releaseOf(counter, 'app', '1.0.0')] }));
    await until('committed', () => a.status().state === 'committed');
    await server.publishDirective(a.id, signer.bundle({ device: a.id, sequence: 2, releases: [signer.releaseOf(big, 'app', '2.0.0')] }));
    await until('downloading', () => a.status().state === 'downloading');
    await a.stop();

    // Mid-probation: a long tick keeps it there.
    server.fault = null;
    const b = new DeviceAgent(options('life-2'));
    await b.start();
    await until('online', () => b.status().connected);
    await server.publishDirective(b.id, signer.bundle({ device: b.id, sequence: 1, releases: [signer.releaseOf(counter, 'app', '1.0.0', { tickMs: 60_000 })] }));
    await until('probation', () => b.status().state === 'probation');
    await b.stop();

    await until('sockets to close', () => handles().sockets <= before.sockets, 10_000);
    expect(handles().timers).toBeLessThanOrEqual(before.timers);
  });

  it('a module that blows its time budget does not take down the modules sharing its worker', async () => {
    // One worker: both devices' modules live in it. The loop gets the worker terminated and respawned.
    const counter = await wasm('counter');
    const loop = await wasm('infinite-loop');
    server.addImage(counter);
    server.addImage(loop);
    const steady = new DeviceAgent({ ...options('share-1'), callBudgetMs: 300 });
    const looping = new DeviceAgent({ ...options('share-2'), callBudgetMs: 300 });
    try {
      for (const a of [steady, looping]) {
        await a.start();
        await until('online', () => a.status().connected);
        await server.publishDirective(a.id, signer.bundle({ device: a.id, sequence: 1, releases: [signer.releaseOf(counter, 'app', '1.0.0')] }));
        await until('committed', () => a.status().state === 'committed');
      }
      const count = () => server.telemetry.get(steady.id)?.filter((t) => t.name === 'count').at(-1)?.value ?? 0;
      await until('steady counting', () => count() >= 3);
      await server.publishDirective(looping.id, signer.bundle({ device: looping.id, sequence: 2, releases: [signer.releaseOf(loop, 'app', '2.0.0')] }));
      await until('the loop reverted', () => looping.status().state === 'rolled_back');
      expect(looping.status().reason).toBe('MODULE_TIMEOUT');
      // The neighbour was re-created on the new worker and carries on from its kv count, not from 1.
      const at = count();
      await until('steady still counting', () => count() > at + 2);
      const values = server.telemetry.get(steady.id)!.map((t) => t.value);
      expect(values.every((v, i) => i === 0 || v > values[i - 1])).toBe(true);
    } finally {
      await steady.stop();
      await looping.stop();
    }
  });
});
