// MCUboot's habit: interrupt an update at every storage write with a real kill -9, boot again on the
// same state directory, and check the device ends in a consistent, final state: committed on the new
// version (a good update) or back on the old one (a module that traps), with state.json naming a slot
// whose bytes match it.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, toHex, type Report } from '../protocol/index.js';
import { FakeServer, paddedCounter, Signer, startBroker, tempDir, until, wasm, type Release, type TestBroker } from './device-fixture.js';

const AGENT = join(process.cwd(), 'dist/device-sim/agent-main.js');
const ID = `kill-${process.pid}`;
let broker: TestBroker;
let server: FakeServer;
const signer = new Signer();
const dirs: { path: string; remove(): void }[] = [];
let template: string;
let v1: Release;

function spawnAgent(state: string, crashAt = 0): ChildProcess {
  const env = { ...process.env, WF_SIM_CRASH_AT_WRITE: String(crashAt) };
  const args = [AGENT, '--id', ID, '--mqtt', broker.url, '--password', 't', '--root', toHex(signer.root.publicKey), '--state', state, '--chunk', '1024'];
  return spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'ignore'] });
}

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.signalCode ?? child.exitCode);
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });

const reportsFrom = (from: number): Report[] => server.reportsOf(ID).slice(from);
const final = (r: Report) => ['committed', 'failed', 'rolled_back'].includes(r.state);

beforeAll(async () => {
  broker = await startBroker();
  server = await FakeServer.connect(broker.url);
  const counter = await wasm('counter');
  server.addImage(counter);
  v1 = signer.releaseOf(counter, 'app', '1.0.0');
  // The starting point of every run: counter 1.0.0 committed at sequence 1.
  const dir = tempDir('wf-kill-');
  dirs.push(dir);
  template = dir.path;
  const child = spawnAgent(template);
  await server.publishDirective(ID, signer.bundle({ device: ID, sequence: 1, releases: [v1] }));
  await until('v1 committed', () => server.last(ID)?.state === 'committed' && server.last(ID)?.sequence === 1);
  child.kill('SIGTERM');
  await exited(child);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await broker?.stop();
  for (const d of dirs) d.remove();
});

/** Check that state.json names, for the component, an active slot whose file has the recorded digest. */
function expectConsistent(state: string, version: string): void {
  const s = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as {
    components: Record<string, { active: 'A' | 'B'; A?: { sha256: string; version: string }; B?: { sha256: string; version: string } }>;
    trial?: unknown;
  };
  const app = s.components.app;
  const info = app[app.active]!;
  expect(info.version).toBe(version);
  expect(toHex(sha256(new Uint8Array(readFileSync(join(state, 'slots', 'app', `${app.active}.wasm`)))))).toBe(info.sha256);
  expect(s.trial).toBeUndefined();
}

/** Kill at crash point 1, 2, … until an update runs through without reaching the point. */
async function killAtEveryWrite(v2: Release, sequence: number, expectFinal: Partial<Report>, expectVersion: string): Promise<number> {
  const bundle = signer.bundle({ device: ID, sequence, releases: [v2] });
  for (let point = 1; ; point++) {
    const dir = tempDir('wf-kill-');
    dirs.push(dir);
    cpSync(template, dir.path, { recursive: true });
    await server.publishDirective(ID, bundle);
    const from = server.reportsOf(ID).length;
    const crashing = spawnAgent(dir.path, point);
    const how = await Promise.race([
      exited(crashing),
      until('the update to end', () => reportsFrom(from).find(final), 30_000).then(() => 'finished' as const),
    ]);
    if (how === 'finished') {
      crashing.kill('SIGTERM');
      await exited(crashing);
      expect(reportsFrom(from).find(final)).toMatchObject(expectFinal);
      expectConsistent(dir.path, expectVersion);
      return point - 1;
    }
    expect(how, `crash point ${point}`).toBe('SIGKILL');
    // Boot again on what the kill left behind.
    const after = server.reportsOf(ID).length;
    const again = spawnAgent(dir.path);
    const r = await until(`final report after a kill at point ${point}`, () => reportsFrom(after).find(final), 30_000);
    again.kill('SIGTERM');
    await exited(again);
    expect(r, `kill at point ${point}`).toMatchObject(expectFinal);
    expectConsistent(dir.path, expectVersion);
  }
}

describe('device agent killed at every storage write of an update', () => {
  it('a good update ends committed on the new version, whichever write the kill interrupted', async () => {
    const big = await paddedCounter(3000);
    server.addImage(big);
    const points = await killAtEveryWrite(signer.releaseOf(big, 'app', '2.0.0'), 2, { state: 'committed', sequence: 2, running: [{ component: 'app', version: '2.0.0' }] as never }, '2.0.0');
    expect(points).toBeGreaterThanOrEqual(10);
  }, 120_000);

  it('a trapping update ends back on the old version, whichever write the kill interrupted', async () => {
    const trap = await wasm('trap-init');
    server.addImage(trap);
    const points = await killAtEveryWrite(signer.releaseOf(trap, 'app', '2.0.0'), 3, { state: 'rolled_back', reason: 'MODULE_TRAP', sequence: 1 }, '1.0.0');
    expect(points).toBeGreaterThanOrEqual(10);
  }, 120_000);
});
