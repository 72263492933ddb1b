// End to end: the real fleet server (embedded aedes + SQLite) and 100 simulated devices in this
// process, driven through the operator's HTTP API and the CLI's publish/rollback functions.
// deploy v1 → all committed; a trapping v2 → all revert by themselves; rollback → all on the
// prior version; the server restarts mid-deploy → every device ends committed or reverted.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { rollback } from '../cli/commands/rollback.js';
import { Fleet } from '../device-sim/fleet.js';
import type { FleetSummary } from '../device-sim/summary.js';
import { EXAMPLES, startFleet, type TestFleet } from './helpers/server.js';

const DEVICES = 100;
const TAGS = { group: 'e2e' };
let server: TestFleet;
let fleet: Fleet;

beforeAll(async () => {
  server = await startFleet();
  fleet = await Fleet.start({
    server: server.server.httpUrl,
    token: server.server.operatorToken,
    devices: DEVICES,
    seed: 'e2e',
    tags: TAGS,
    stateDir: join(server.dir, 'sim'),
    workers: 2,
    agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 },
  });
  await fleet.waitFor('every device online', (s) => s.online === DEVICES, 60_000);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await server?.close();
});

const publish = (file: string, version: string) =>
  publishModuleFile(server.api, file, { name: 'counter', version, tickMs: 1000, stack: 16384, keysDir: server.keysDir });
const deploy = (version: string) =>
  server.api.post<{ devices: Array<{ id: string; sequence: number }> }>('/v1/deployments', { module: 'counter', version, tags: TAGS });

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every device has reached a final state for sequence `seq` (committed at it, or refused/reverted it). */
const settledAt = (seq: number) => (_: FleetSummary, f: Fleet) =>
  f.statuses().every((d) => d.connected && (d.sequence >= seq || ((d.state === 'rolled_back' || d.state === 'failed') && d.targetSequence === seq)));

async function serverView(): Promise<Array<{ id: string; state: string; reason: string | null; running: Array<{ component: string; version: string }> }>> {
  const { devices } = await server.api.get<{ devices: Array<{ id: string; state: string; reason: string | null; running: Array<{ component: string; version: string }> }> }>('/v1/devices');
  return devices.filter((d) => fleet.ids.includes(d.id));
}

describe(`fleet of ${DEVICES} simulated devices against the real server`, () => {
  it('deploy v1 → every device commits and runs it', async () => {
    await publish(join(EXAMPLES, 'counter.wat'), '1.0.0');
    const { devices } = await deploy('1.0.0');
    expect(devices).toHaveLength(DEVICES);
    const s = await fleet.waitFor('all committed on 1.0.0', settledAt(1), 90_000);
    expect(s.states.committed).toBe(DEVICES);
    // The default engine (wasm3, built by npm install; $WASMFLEET_ENGINE to choose), as the hellos say.
    expect(fleet.engineName).toBe(process.env.WASMFLEET_ENGINE ?? 'wasm3');
    const hellos = await server.api.get<{ devices: Array<{ id: string; hello: { host: string } | null }> }>('/v1/devices');
    expect(new Set(hellos.devices.filter((d) => fleet.ids.includes(d.id)).map((d) => d.hello?.host))).toEqual(new Set([fleet.engineName]));
    expect(s.running).toEqual({ 'counter@1.0.0': DEVICES });
    // The operator sees the same through the API, once the server has processed the last reports.
    await until('the server to see 1.0.0 committed everywhere', async () => {
      const view = await serverView();
      return view.filter((d) => d.state === 'committed' && d.running.some((r) => r.version === '1.0.0')).length === DEVICES;
    });
  }, 120_000);

  it('deploy a v2 that traps in wf_init → every device reverts to v1 by itself with MODULE_TRAP', async () => {
    await publish(join(EXAMPLES, 'trap-init.wat'), '2.0.0');
    await deploy('2.0.0');
    const s = await fleet.waitFor('all reverted', settledAt(2), 90_000);
    expect(s.states.rolled_back).toBe(DEVICES);
    expect(s.reasons).toEqual({ MODULE_TRAP: DEVICES });
    expect(s.running).toEqual({ 'counter@1.0.0': DEVICES });
    await until('the server to see every device rolled back with MODULE_TRAP', async () => {
      const view = await serverView();
      return view.filter((d) => d.state === 'rolled_back' && d.reason === 'MODULE_TRAP').length === DEVICES;
    });
  }, 120_000);

  it('deploy v1.1 then roll back through the CLI → every device is on v1.0.0 again', async () => {
    await publish(join(EXAMPLES, 'counter.wat'), '1.1.0');
    await deploy('1.1.0');
    await fleet.waitFor('all on 1.1.0', (s) => s.running['counter@1.1.0'] === DEVICES && s.inProgress === 0, 90_000);
    // As an operator would: roll back once the server has seen the commits.
    await until('the server to see 1.1.0 everywhere', async () => (await serverView()).every((d) => d.state === 'committed' && d.running[0]?.version === '1.1.0'));
    const r = await rollback(server.api, { tags: TAGS, keysDir: server.keysDir });
    expect(r.targets.filter((t) => t.version === '1.0.0')).toHaveLength(DEVICES);
    const s = await fleet.waitFor('all back on 1.0.0', (x) => x.running['counter@1.0.0'] === DEVICES && x.inProgress === 0, 90_000);
    expect(s.states.committed).toBe(DEVICES);
  }, 180_000);

  it('the server restarts mid-deploy → every device ends committed or reverted, none stuck', async () => {
    // A 40 KB image (10 chunks of 4 KiB), so the restart lands while devices are downloading.
    const file = join(server.dir, 'counter-big.wat');
    const counter = (await import('node:fs')).readFileSync(join(EXAMPLES, 'counter.wat'), 'utf8');
    writeFileSync(file, counter.replace('(data (i32.const 0) "count")', `(data (i32.const 0) "count") (data (i32.const 1024) "${'wasmfleet-'.repeat(4000)}")`));
    await publish(file, '1.2.0');
    const { devices } = await deploy('1.2.0');
    const seq = devices[0].sequence;
    const midUpdate = () => fleet.statuses().filter((d) => d.targetSequence === seq && ['assigned', 'downloading', 'verifying', 'installing', 'probation'].includes(d.state));
    await fleet.waitFor('devices downloading 1.2.0', () => midUpdate().some((d) => d.state === 'downloading'), 30_000);
    let interrupted = 0;
    await server.restart({}, () => (interrupted = midUpdate().length));
    expect(interrupted).toBeGreaterThan(0); // the server went down while devices were mid-update
    const s = await fleet.waitFor('every device settled', settledAt(seq), 150_000);
    expect(s.inProgress).toBe(0);
    expect(s.online).toBe(DEVICES);
    // Nothing was wrong with 1.2.0: every device ends up running it.
    expect(s.running).toEqual({ 'counter@1.2.0': DEVICES });
  }, 200_000);
});
