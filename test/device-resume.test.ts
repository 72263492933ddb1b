// Interrupted updates: the broker restarts or the agent restarts in the middle of a download, or the
// device keeps dying during probation. The device resumes from its last good chunk and ends
// committed, or reverts by itself when the new module never gets through probation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, toHex, type Report } from '../protocol/index.js';
import type { AgentOptions, DeviceAgent } from '../device-sim/agent.js';
import { AgentHarness, paddedCounter, until, wasm, type FakeServer, type Release } from './device-fixture.js';

const h = new AgentHarness('resume', 1);
const signer = h.signer;
let server: FakeServer;
let v1: Release;
let big: Uint8Array;
const CHUNK = 1024;
const HELD_FROM = 10; // chunks from this index on are held back until the test releases them

beforeAll(async () => {
  await h.open();
  server = h.server;
  const counter = await wasm('counter');
  big = await paddedCounter(40_000);
  server.addImage(counter);
  server.addImage(big);
  v1 = signer.releaseOf(counter, 'app', '1.0.0');
});

afterAll(() => h.close());

function options(over: Partial<AgentOptions> = {}): AgentOptions {
  return h.options({
    chunkSize: CHUNK,
    window: 4,
    chunkTimeoutMs: 300,
    chunkTries: 1000, // held chunks are retried for as long as the test holds them
    reconnectPeriodMs: 200,
    retryDelayMs: 60_000,
    ...over,
  });
}

const boot = (opts: AgentOptions): Promise<DeviceAgent> => h.boot(opts);

const reports = (id: string): Report[] => server.reportsOf(id);
const finalAfter = (id: string, from: number) =>
  until(`final report of ${id}`, () => reports(id).slice(from).find((r) => ['committed', 'failed', 'rolled_back'].includes(r.state)), 45_000);

async function committedV1(opts: AgentOptions): Promise<DeviceAgent> {
  const agent = await boot(opts);
  await until('online', () => agent.status().connected);
  await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 1, releases: [v1] }));
  expect(await finalAfter(agent.id, 0)).toMatchObject({ state: 'committed', sequence: 1 });
  return agent;
}

/** Hold back the big image's chunks from HELD_FROM on; returns the release function. */
function holdBigImage(): () => void {
  let held = true;
  const bigSha = toHex(sha256(big));
  server.fault = (req, data) => (held && toHex(req.sha256) === bigSha && req.index >= HELD_FROM ? null : data);
  return () => {
    held = false;
  };
}

// With a window of 4, a request for chunk HELD_FROM + 3 means every chunk before HELD_FROM is on disk.
const heldReached = () => () => (server.requestsByChunk.get(`${toHex(sha256(big))}:${HELD_FROM + 3}`) ?? 0) > 0;

/** Each chunk before the interruption was fetched exactly once: the device resumed, it did not start over. */
function expectResumed(): void {
  const bigSha = toHex(sha256(big));
  for (let i = 0; i < HELD_FROM; i++) expect(server.requestsByChunk.get(`${bigSha}:${i}`), `chunk ${i}`).toBe(1);
}

describe('device agent: interrupted downloads resume', () => {
  it('resumes after a broker restart in the middle of a download and commits', async () => {
    server.requestsByChunk.clear();
    const agent = await committedV1(options());
    const release = holdBigImage();
    const v2 = signer.releaseOf(big, 'app', '2.0.0');
    const from = reports(agent.id).length;
    await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
    await until('download to reach the held chunks', heldReached());

    await h.broker.stop();
    await until('the device to notice', () => !agent.status().connected);
    await h.broker.start(); // an in-memory broker: the retained directive is gone, the device still has it
    release();
    const r = await finalAfter(agent.id, from);
    server.fault = null;
    expect(r).toMatchObject({ state: 'committed', sequence: 2, running: [{ component: 'app', version: '2.0.0' }] });
    expectResumed();
  });

  it('resumes after the agent restarts in the middle of a download and commits', async () => {
    server.requestsByChunk.clear();
    const opts = options();
    const agent = await committedV1(opts);
    const release = holdBigImage();
    const v2 = signer.releaseOf(big, 'app', '2.0.0');
    const from = reports(agent.id).length;
    await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
    await until('download to reach the held chunks', heldReached());

    await agent.stop(); // a process restart: a new agent on the same state directory
    const again = await boot(opts);
    release();
    const r = await finalAfter(again.id, from);
    server.fault = null;
    expect(r).toMatchObject({ state: 'committed', sequence: 2, running: [{ component: 'app', version: '2.0.0' }] });
    expectResumed();
  });

  it('reverts as a crash loop when it keeps restarting during probation', async () => {
    const opts = options({ probation: { ticks: 3, maxBoots: 3 } });
    const agent = await committedV1(opts);
    // A long tick keeps the module in probation long enough to restart the device under it.
    const slow = signer.releaseOf(big, 'app', '2.0.0', { tickMs: 5000 });
    const from = reports(agent.id).length;
    await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 2, releases: [slow] }));
    let current = agent;
    for (let restart = 1; restart <= 3; restart++) {
      await until(`probation, boot #${restart}`, () => current.status().state === 'probation');
      await current.stop();
      current = await boot(opts);
    }
    const r = await finalAfter(agent.id, from);
    expect(r).toMatchObject({ state: 'rolled_back', reason: 'MODULE_CRASH_LOOP', sequence: 1, running: [{ version: '1.0.0' }] });
    await until('the previous module to run', () => (server.telemetry.get(agent.id)?.length ?? 0) > 0);
  });
});
