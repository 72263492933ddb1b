// One simulated device against a real broker: good updates commit, every bad input is refused
// with its precise reason while the current module keeps running.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../cli/wat.js';
import { decodeBundle, encodeBundle, sha256, type Report } from '../protocol/index.js';
import type { AgentOptions, DeviceAgent } from '../device-sim/agent.js';
import { sensorValue } from '../device-sim/host-abi.js';
import { transition, UPDATE_EVENTS } from '../protocol/update-table.js';
import { AgentHarness, NOW, until, wasm, type FakeServer, type Release } from './device-fixture.js';

const h = new AgentHarness('dev', 2);
const signer = h.signer;
let server: FakeServer;
const modules: Record<string, Uint8Array> = {};
let counterV1: Release;

beforeAll(async () => {
  await h.open();
  server = h.server;
  for (const name of ['counter', 'blink', 'trap-init', 'infinite-loop', 'unhealthy', 'memory-hog']) modules[name] = await wasm(name);
  modules['init-fails'] = await compileWat(`(module (memory (export "memory") 1 1)
    (func (export "wf_init") (result i32) (i32.const 7)) (func (export "wf_tick") (result i32) (i32.const 0)))`);
  // counter under another telemetry name (same kv key), and a module that writes kv then traps.
  modules['counter-next'] = await compileWat(readFileSync('examples/wat/counter.wat', 'utf8').replace('(data (i32.const 0) "count")', '(data (i32.const 0) "count") (data (i32.const 16) "next")').replace('(call $telemetry (i32.const 0) (i32.const 5)', '(call $telemetry (i32.const 16) (i32.const 4)'));
  modules['kv-then-trap'] = await compileWat(`(module
    (import "wf" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1 1)
    (data (i32.const 0) "count") (data (i32.const 64) "\\e8\\03\\00\\00")
    (func (export "wf_init") (result i32) (drop (call $kv_set (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 4))) (i32.const 0))
    (func (export "wf_tick") (result i32) unreachable))`);
  for (const image of Object.values(modules)) server.addImage(image);
  counterV1 = signer.releaseOf(modules.counter, 'app', '1.0.0');
});

afterAll(() => h.close());

const optionsOf = new Map<string, AgentOptions>();
async function device(over: Partial<AgentOptions> = {}): Promise<DeviceAgent> {
  const options = h.options({
    chunkSize: 256,
    chunkTimeoutMs: 500,
    chunkTries: 4,
    callBudgetMs: 400,
    retryDelayMs: 60_000,
    probation: { ticks: 3 },
    ...over,
  });
  optionsOf.set(options.deviceId, options);
  return h.boot(options);
}

const lastOf = (agent: DeviceAgent): Report | undefined => server.last(agent.id);
const countValue = (agent: DeviceAgent): number => server.telemetry.get(agent.id)?.filter((t) => t.name === 'count').at(-1)?.value ?? 0;

async function finalReport(agent: DeviceAgent, from: number): Promise<Report> {
  return until(`a final report from ${agent.id}`, () =>
    server.reportsOf(agent.id).slice(from).find((r) => ['committed', 'failed', 'rolled_back'].includes(r.state)),
  );
}

/** A device that committed counter 1.0.0 at sequence 1 and is publishing its count. */
async function runningV1(over: Partial<AgentOptions> = {}): Promise<DeviceAgent> {
  const agent = await device(over);
  await until('online', () => agent.status().connected);
  await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 1, releases: [counterV1] }));
  const r = await finalReport(agent, 0);
  expect(r).toMatchObject({ state: 'committed', sequence: 1 });
  await until('count telemetry', () => countValue(agent) >= 2);
  return agent;
}

/** Send a bundle and return the device's final report for it. */
async function send(agent: DeviceAgent, bundle: Uint8Array): Promise<Report> {
  const from = server.reportsOf(agent.id).length;
  await server.publishDirective(agent.id, bundle);
  return finalReport(agent, from);
}

/** The device still runs counter 1.0.0 and it keeps counting. */
async function stillRunsV1(agent: DeviceAgent, report: Report): Promise<void> {
  expect(report.sequence).toBe(1);
  expect(report.running.map((c) => `${c.component}@${c.version}`)).toEqual(['app@1.0.0']);
  const before = countValue(agent);
  await until('the count to keep going', () => countValue(agent) > before + 1);
}

describe('device agent: updates', () => {
  it('commits a signed update, runs it, and treats the retained directive arriving again as a no-op', async () => {
    const agent = await runningV1();
    const states = server.reportsOf(agent.id).map((r) => r.state);
    expect(states).toEqual(expect.arrayContaining(['assigned', 'downloading', 'verifying', 'installing', 'probation', 'committed']));
    expect(states.indexOf('assigned')).toBeLessThan(states.indexOf('committed'));
    const before = server.reportsOf(agent.id).length;
    agent.dropConnection(); // reconnect: the retained directive comes again
    await until('reconnect', () => server.reportsOf(agent.id).length > before && agent.status().connected);
    await until('count after reconnect', () => countValue(agent) > 4);
    expect(server.reportsOf(agent.id).slice(before).map((r) => r.state)).not.toContain('assigned');
    expect(agent.status()).toMatchObject({ state: 'committed', sequence: 1 });
  });

  it('keeps kv state across an update and across a restart', async () => {
    const agent = await runningV1();
    // 1.1.0 is another module: it reads the same kv key but reports its count as "next".
    const v11 = signer.releaseOf(modules['counter-next'], 'app', '1.1.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v11] }));
    expect(r).toMatchObject({ state: 'committed', sequence: 2 });
    const seen = () => server.telemetry.get(agent.id)!;
    const lastV1 = seen().filter((t) => t.name === 'count').at(-1)!.value;
    const firstV11 = seen().find((t) => t.name === 'next')!.value;
    // The new version continues from what the old one stored; it does not start again at 1.
    expect(firstV11).toBe(lastV1 + 1);
    await agent.stop();
    const lastBeforeStop = seen().filter((t) => t.name === 'next').at(-1)!.value;
    const from = seen().length;
    const restarted = await h.boot(optionsOf.get(agent.id)!);
    await until('telemetry after restart', () => seen().length > from);
    expect(seen()[from]).toMatchObject({ name: 'next', value: lastBeforeStop + 1 });
    expect(restarted.status()).toMatchObject({ sequence: 2, running: [{ component: 'app', version: '1.1.0' }] });
  });

  it('undoes the kv writes of a trial that fails probation', async () => {
    const agent = await runningV1();
    // Writes count = 1000 in wf_init, then traps in its first tick.
    const v2 = signer.releaseOf(modules['kv-then-trap'], 'app', '2.0.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
    expect(r).toMatchObject({ state: 'rolled_back', reason: 'MODULE_TRAP', running: [{ component: 'app', version: '1.0.0' }] });
    const before = countValue(agent);
    await until('v1 counting again', () => countValue(agent) > before);
    expect(countValue(agent)).toBeLessThan(1000);
    // ... also in what is on disk: a restart continues from the old count.
    await agent.stop();
    const restarted = await h.boot(optionsOf.get(agent.id)!);
    const from = server.telemetry.get(agent.id)!.length;
    await until('telemetry after restart', () => server.telemetry.get(agent.id)!.length > from);
    expect(server.telemetry.get(agent.id)![from].value).toBeLessThan(1000);
    await restarted.stop();
  });

  it('abandons a download when a newer directive arrives and follows the newer one', async () => {
    const agent = await runningV1();
    const stuck = signer.releaseOf(modules.blink, 'app', '2.0.0');
    server.fault = (req, data) => (sameBytes(req.sha256, sha256(modules.blink)) ? null : data); // v2 never arrives
    const from = server.reportsOf(agent.id).length;
    await server.publishDirective(agent.id, signer.bundle({ device: agent.id, sequence: 2, releases: [stuck] }));
    await until('downloading v2', () => server.reportsOf(agent.id).slice(from).some((r) => r.state === 'downloading' && r.targetSequence === 2));
    const v3 = signer.releaseOf(modules.counter, 'app', '3.0.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 3, releases: [v3] }));
    server.fault = null;
    expect(r).toMatchObject({ state: 'committed', sequence: 3, running: [{ component: 'app', version: '3.0.0' }] });
  });
});

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('device agent: bad directives are refused, the current module keeps running', () => {
  it('a directive whose signature does not verify → COSE_BAD_SIGNATURE', async () => {
    const agent = await runningV1();
    const good = decodeBundle(signer.bundle({ device: agent.id, sequence: 2, releases: [counterV1] }));
    const directive = new Uint8Array(good.directive);
    directive[directive.length - 1] ^= 0x01; // the last byte of the Ed25519 signature
    const r = await send(agent, encodeBundle({ ...good, directive }));
    expect(r).toMatchObject({ state: 'failed', reason: 'COSE_BAD_SIGNATURE' });
    await stillRunsV1(agent, r);
  });

  it('a directive signed by a key the key document does not name → COSE_UNKNOWN_KID', async () => {
    const agent = await runningV1();
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [counterV1], director: signer.stranger }));
    expect(r).toMatchObject({ state: 'failed', reason: 'COSE_UNKNOWN_KID' });
    await stillRunsV1(agent, r);
  });

  it('a directive for another device → DIRECTIVE_WRONG_DEVICE', async () => {
    const agent = await runningV1();
    const r = await send(agent, signer.bundle({ device: 'someone-else', sequence: 2, releases: [counterV1] }));
    expect(r).toMatchObject({ state: 'failed', reason: 'DIRECTIVE_WRONG_DEVICE' });
    await stillRunsV1(agent, r);
  });

  it('an expired directive → DIRECTIVE_EXPIRED', async () => {
    const agent = await runningV1();
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [counterV1], expires: NOW() - 3600 }));
    expect(r).toMatchObject({ state: 'failed', reason: 'DIRECTIVE_EXPIRED' });
    await stillRunsV1(agent, r);
  });

  it('a replayed directive (equal or lower sequence) → DIRECTIVE_REPLAY', async () => {
    const agent = await runningV1();
    const blink = signer.releaseOf(modules.blink, 'app', '1.5.0');
    const equal = await send(agent, signer.bundle({ device: agent.id, sequence: 1, releases: [blink] }));
    expect(equal).toMatchObject({ state: 'failed', reason: 'DIRECTIVE_REPLAY' });
    await stillRunsV1(agent, equal);
    const v2 = signer.releaseOf(modules.counter, 'app', '2.0.0');
    expect(await send(agent, signer.bundle({ device: agent.id, sequence: 5, releases: [v2] }))).toMatchObject({ state: 'committed', sequence: 5 });
    const lower = await send(agent, signer.bundle({ device: agent.id, sequence: 4, releases: [blink] }));
    expect(lower).toMatchObject({ state: 'failed', reason: 'DIRECTIVE_REPLAY', sequence: 5, running: [{ version: '2.0.0' }] });
  });

  it('an older version without a rollback authorization → DIRECTIVE_DOWNGRADE; with one, it installs', async () => {
    const agent = await runningV1();
    const v09 = signer.releaseOf(modules.counter, 'app', '0.9.0');
    const refused = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v09] }));
    expect(refused).toMatchObject({ state: 'failed', reason: 'DIRECTIVE_DOWNGRADE' });
    await stillRunsV1(agent, refused);
    const allowed = await send(agent, signer.bundle({ device: agent.id, sequence: 3, releases: [v09], rollbackFor: v09 }));
    expect(allowed).toMatchObject({ state: 'committed', sequence: 3, running: [{ version: '0.9.0' }] });
  });

  it('image bytes that do not match the signed digest → IMAGE_DIGEST_MISMATCH', async () => {
    const agent = await runningV1();
    const v2 = signer.releaseOf(modules.blink, 'app', '2.0.0');
    server.fault = (req, data) => (req.index === 0 && sameBytes(req.sha256, sha256(modules.blink)) ? flipFirst(data) : data);
    try {
      const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
      expect(r).toMatchObject({ state: 'failed', reason: 'IMAGE_DIGEST_MISMATCH', targetSequence: 2 });
      await stillRunsV1(agent, r);
    } finally {
      server.fault = null;
    }
  });

  it('an oversized chunk → CHUNK_INVALID', async () => {
    const agent = await runningV1();
    const v2 = signer.releaseOf(modules.blink, 'app', '2.0.0');
    server.fault = (req, data) => (sameBytes(req.sha256, sha256(modules.blink)) ? new Uint8Array(req.chunkSize + 16) : data);
    try {
      const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
      expect(r).toMatchObject({ state: 'failed', reason: 'CHUNK_INVALID' });
      await stillRunsV1(agent, r);
    } finally {
      server.fault = null;
    }
  });

  it('a truncated chunk → CHUNK_INVALID', async () => {
    const agent = await runningV1();
    const v2 = signer.releaseOf(modules.counter, 'app', '2.0.0', { tickMs: 41 }); // 276 bytes: chunks of 256 and 20
    server.fault = (req, data) => (req.index === 1 && sameBytes(req.sha256, sha256(modules.counter)) ? data.subarray(0, data.length - 1) : data);
    try {
      const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [v2] }));
      expect(r).toMatchObject({ state: 'failed', reason: 'CHUNK_INVALID' });
      await stillRunsV1(agent, r);
    } finally {
      server.fault = null;
    }
  });

  it('a manifest needing a capability the device does not grant → CAPABILITY_NOT_GRANTED', async () => {
    const agent = await runningV1({ capabilities: ['clock', 'config', 'kv', 'log', 'telemetry'] });
    const blink = signer.releaseOf(modules.blink, 'app', '2.0.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [blink] }));
    expect(r).toMatchObject({ state: 'failed', reason: 'CAPABILITY_NOT_GRANTED' });
    await stillRunsV1(agent, r);
  });

  it('a module importing an ungranted capability its manifest does not declare → CAPABILITY_NOT_GRANTED', async () => {
    const agent = await runningV1({ capabilities: ['clock', 'config', 'kv', 'log', 'telemetry'] });
    const lying = signer.releaseOf(modules.blink, 'app', '2.0.0', { capabilities: ['log'] });
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [lying] }));
    expect(r).toMatchObject({ state: 'failed', reason: 'CAPABILITY_NOT_GRANTED', targetSequence: 2 });
    expect(r.detail).toContain('gpio');
    await stillRunsV1(agent, r);
  });
});

describe('device agent: modules that fail probation are reverted by the device itself', () => {
  const cases: [string, string][] = [
    ['trap-init', 'MODULE_TRAP'],
    ['init-fails', 'MODULE_INIT_FAILED'],
    ['infinite-loop', 'MODULE_TIMEOUT'],
    ['unhealthy', 'MODULE_HEALTH'],
    ['memory-hog', 'MODULE_OUT_OF_MEMORY'],
  ];
  for (const [name, reason] of cases) {
    it(`${name} → rolled_back ${reason}, back on the previous module`, async () => {
      const agent = await runningV1();
      const bad = signer.releaseOf(modules[name], 'app', '2.0.0');
      const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [bad] }));
      expect(r).toMatchObject({ state: 'rolled_back', reason, targetSequence: 2 });
      await stillRunsV1(agent, r);
      // The same directive arriving again (retained, on reconnect) is not tried a second time.
      const before = server.reportsOf(agent.id).length;
      agent.dropConnection();
      await until('reconnect', () => server.reportsOf(agent.id).length > before && agent.status().connected);
      await until('count after reconnect', () => countValue(agent) > 0);
      expect(server.reportsOf(agent.id).slice(before).map((x) => x.state)).not.toContain('probation');
    });
  }
});

function flipFirst(data: Uint8Array): Uint8Array {
  const copy = new Uint8Array(data);
  copy[0] ^= 0xff;
  return copy;
}

describe('device agent: host ABI v1', () => {
  it('gpio reads back what the module wrote (blink passes its own health check and commits)', async () => {
    const agent = await runningV1();
    const blink = signer.releaseOf(modules.blink, 'app', '2.0.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [blink] }));
    expect(r).toMatchObject({ state: 'committed', running: [{ version: '2.0.0' }] });
  });

  it('sensor_read is a deterministic function of the device seed and channel; telemetry reaches the server', async () => {
    const reporter = await wasm('sensor-reporter');
    server.addImage(reporter);
    const seeds = ['seed-a', 'seed-b'];
    const values: number[] = [];
    for (const seed of seeds) {
      const agent = await device({ seed });
      await until('online', () => agent.status().connected);
      const rel = signer.releaseOf(reporter, 'sensor', '1.0.0');
      expect(await send(agent, signer.bundle({ device: agent.id, sequence: 1, releases: [rel] }))).toMatchObject({ state: 'committed' });
      const t = await until('temperature', () => server.telemetry.get(agent.id)?.find((x) => x.name === 'temperature'));
      expect(t.value).toBe(sensorValue(seed, 0));
      values.push(t.value);
    }
    expect(values[0]).not.toBe(values[1]);
  });

  it('config_get, log and now_ms: the module reads its directive config and the clock', async () => {
    // Logs "<config value>" in wf_init; wf_tick fails unless now_ms is a plausible wall clock.
    const image = await compileWat(`(module
      (import "wf" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
      (import "wf" "log" (func $log (param i32 i32)))
      (import "wf" "now_ms" (func $now_ms (result i64)))
      (memory (export "memory") 1 1)
      (data (i32.const 0) "greeting")
      (func (export "wf_init") (result i32) (local $n i32)
        (local.set $n (call $config_get (i32.const 0) (i32.const 8) (i32.const 64) (i32.const 64)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
        (call $log (i32.const 64) (local.get $n))
        (i32.const 0))
      (func (export "wf_tick") (result i32)
        (if (result i32) (i64.gt_u (call $now_ms) (i64.const 1600000000000)) (then (i32.const 0)) (else (i32.const 1)))))`);
    server.addImage(image);
    const agent = await device();
    const logs: string[] = [];
    agent.on('log', (line: string) => logs.push(line));
    await until('online', () => agent.status().connected);
    const rel = signer.releaseOf(image, 'cfg', '1.0.0');
    const r = await send(agent, signer.bundle({ device: agent.id, sequence: 1, releases: [rel], config: { greeting: 'hello from the directive' } }));
    expect(r).toMatchObject({ state: 'committed' });
    expect(logs).toContain('cfg: hello from the directive');
    // Without the config key, wf_init returns 1: the device reverts (here: to nothing).
    const again = signer.releaseOf(image, 'cfg', '1.0.1');
    const r2 = await send(agent, signer.bundle({ device: agent.id, sequence: 2, releases: [again] }));
    expect(r2).toMatchObject({ state: 'rolled_back', reason: 'MODULE_INIT_FAILED', running: [{ component: 'cfg', version: '1.0.0' }] });
    // The same release again with another config is an update: the new config is applied...
    const r3 = await send(agent, signer.bundle({ device: agent.id, sequence: 3, releases: [rel], config: { greeting: 'a new config' } }));
    expect(r3).toMatchObject({ state: 'committed', sequence: 3, running: [{ component: 'cfg', version: '1.0.0' }] });
    expect(logs).toContain('cfg: a new config');
    // ... and, like any update, a config the module fails with is rolled back to the previous one.
    logs.length = 0;
    const r4 = await send(agent, signer.bundle({ device: agent.id, sequence: 4, releases: [rel], config: { other: 'x' } }));
    expect(r4).toMatchObject({ state: 'rolled_back', reason: 'MODULE_INIT_FAILED', sequence: 3 });
    expect(logs).toContain('cfg: a new config');
  });
});

describe('device agent: after commit', () => {
  it('a committed module that faults later is restarted by the watchdog; the update is not undone', async () => {
    // Passes a 3-tick probation, then traps on its 6th tick; each restart begins counting again.
    const image = await compileWat(`(module
      (import "wf" "telemetry" (func $telemetry (param i32 i32 f64) (result i32)))
      (memory (export "memory") 1 1)
      (data (i32.const 0) "ticks")
      (global $n (mut i32) (i32.const 0))
      (func (export "wf_init") (result i32) (i32.const 0))
      (func (export "wf_tick") (result i32)
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (drop (call $telemetry (i32.const 0) (i32.const 5) (f64.convert_i32_u (global.get $n))))
        (if (i32.ge_u (global.get $n) (i32.const 6)) (then unreachable))
        (i32.const 0)))`);
    server.addImage(image);
    const agent = await device();
    await until('online', () => agent.status().connected);
    const rel = signer.releaseOf(image, 'late', '1.0.0');
    expect(await send(agent, signer.bundle({ device: agent.id, sequence: 1, releases: [rel] }))).toMatchObject({ state: 'committed' });
    const ticks = () => (server.telemetry.get(agent.id) ?? []).filter((t) => t.name === 'ticks').map((t) => t.value);
    // Counting up to 6, trapping, then starting over from 1 after a restart: twice.
    await until('two restarts', () => ticks().filter((v, i, all) => v === 1 && i > 0 && all[i - 1] === 6).length >= 2, 30_000);
    expect(agent.status()).toMatchObject({ state: 'committed', sequence: 1, running: [{ component: 'late', version: '1.0.0' }] });
  });
});

describe('device agent: the update state machine', () => {
  it('every state change any device of this file reported is a transition of protocol/update-table.ts', () => {
    let moves = 0;
    for (const [id, reports] of server.reports) {
      for (let i = 1; i < reports.length; i++) {
        const from = reports[i - 1].state;
        const to = reports[i].state;
        // The retained report again (reconnect, restart) and progress reports are not moves.
        if (from === to && to !== 'failed' && to !== 'assigned') continue;
        const allowed = UPDATE_EVENTS.some((e) => transition(from, e)?.next === to);
        expect(allowed, `${id}: ${from} → ${to}`).toBe(true);
        moves++;
      }
    }
    expect(moves).toBeGreaterThan(100);
  });
});
