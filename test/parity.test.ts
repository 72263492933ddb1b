// Engine parity: every example module, and one module per failure kind, behaves the same on
// every engine — the simulator's V8 and wasm3 engines and the C host's WAMR engine (and any engine added as a
// column): the same telemetry, gpio writes and kv writes in the same order, the same kv state
// carried across an update, the same reason code (and trap name) for every failure, the same
// probation outcome. A difference is a bug in one of our hosts.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import { Wasm3Engine } from '../device-sim/engine/wasm3-engine.js';
import { compileWat } from '../cli/wat.js';
import { observable, wamrColumn, wasmEngineColumn, type Case, type EngineColumn, type Trace } from './helpers/parity.js';

// The columns: every engine a device can run modules on.
const COLUMNS: Array<() => EngineColumn> = [
  () => wasmEngineColumn('v8', () => new NodeEngine({ workers: 1 })),
  () => wasmEngineColumn('wasm3', () => new Wasm3Engine()),
  () => wamrColumn(),
];

const EXAMPLES = join(process.cwd(), 'examples', 'build');
const scratch = mkdtempSync(join(tmpdir(), 'wf-parity-'));
let columns: EngineColumn[] = [];

/** One module per failure kind the examples do not cover. */
const FAULTS: Record<string, string> = {
  'trap-in-tick': `(module (global $n (mut i32) (i32.const 1))
    (func (export "wf_init") (result i32) (i32.const 0))
    (func (export "wf_tick") (result i32)
      (global.set $n (i32.sub (global.get $n) (i32.const 1)))
      (i32.div_u (i32.const 1) (global.get $n))))`,
  'out-of-bounds': `(module (memory (export "memory") 1 1)
    (func (export "wf_init") (result i32) (i32.load (i32.const 70000)))
    (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'init-fails': `(module (func (export "wf_init") (result i32) (i32.const 7)) (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'tick-reports-fault': `(module (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 3)))`,
  'memory-too-large': `(module (memory (export "memory") 4) (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 0)))`,
};

function caseOf(name: string, path: string, over: Partial<Case> = {}): Case {
  return { name, path, wasm: new Uint8Array(readFileSync(path)), ticks: 4, config: { threshold: '0.5', label: 'parity' }, ...over };
}

const cases: Case[] = [];

beforeAll(async () => {
  for (const f of readdirSync(EXAMPLES).filter((f) => f.endsWith('.wasm')).sort()) cases.push(caseOf(f.replace(/\.wasm$/, ''), join(EXAMPLES, f)));
  // The examples written in C (examples/c/, built by clang + lld) are rows like the others.
  for (const c of readdirSync(join(process.cwd(), 'examples', 'c')).filter((f) => f.endsWith('.c'))) {
    expect(cases.map((x) => x.name), `examples/build/ lacks ${c} (npm run examples needs clang and lld)`).toContain(c.replace(/\.c$/, ''));
  }
  // threshold-alarm without its config: wf_init refuses (a misconfigured deploy reverts).
  const alarm = cases.find((c) => c.name === 'threshold-alarm')!;
  cases.push({ ...alarm, name: 'threshold-alarm (no config)', config: {} });
  for (const [name, wat] of Object.entries(FAULTS)) {
    const path = join(scratch, `${name}.wasm`);
    writeFileSync(path, await compileWat(wat));
    cases.push(caseOf(name, path, name === 'memory-too-large' ? { maxPages: 2 } : {}));
  }
  // counter-flaky traps in wf_init on about half the seeds: one of each.
  const flaky = cases.find((c) => c.name === 'counter-flaky')!;
  cases.push({ ...flaky, name: 'counter-flaky (other seed)', seed: 'parity-2' });
  columns = COLUMNS.map((make) => make());
}, 120_000);

afterAll(async () => {
  await Promise.all(columns.map((c) => c.close()));
  rmSync(scratch, { recursive: true, force: true });
});

async function runAll(c: Case): Promise<Map<string, Trace>> {
  const out = new Map<string, Trace>();
  for (const col of columns) out.set(col.name, await col.run(c));
  return out;
}

function expectSame(traces: Map<string, Trace>): void {
  const [first, ...rest] = [...traces.entries()];
  for (const [name, t] of rest) expect(observable(t), `${name} vs ${first[0]}`).toEqual(observable(first[1]));
}

describe('engine parity matrix', () => {
  it('every example and every failure kind: same trace, same reason code, same probation outcome on every engine', async () => {
    expect(columns.length).toBeGreaterThanOrEqual(2);
    const seen = new Set<string>();
    for (const c of cases) {
      const traces = await runAll(c);
      expectSame(traces);
      const any = traces.values().next().value!;
      seen.add(any.fault?.code ?? 'committed');
    }
    // The matrix covers a clean run and every failure kind the probation window knows.
    for (const want of ['committed', 'MODULE_TRAP', 'MODULE_TIMEOUT', 'MODULE_HEALTH', 'MODULE_INIT_FAILED', 'MODULE_OUT_OF_MEMORY', 'ABI_UNKNOWN_IMPORT']) expect(seen, want).toContain(want);
  }, 120_000);

  it('traps are named alike (no engine prefixes)', async () => {
    const trap = cases.find((c) => c.name === 'trap-init')!;
    for (const [name, t] of await runAll(trap)) expect(t.fault, name).toEqual({ entry: 'wf_init', code: 'MODULE_TRAP', detail: 'wf_init: unreachable' });
    const div = cases.find((c) => c.name === 'trap-in-tick')!;
    for (const [name, t] of await runAll(div)) expect(t.fault?.detail, name).toBe('wf_tick: integer divide by zero');
  });

  it('the C sensor filter keeps its state in kv across an update on every engine', async () => {
    const filter = cases.find((c) => c.name === 'sensor-filter')!;
    for (const col of columns) {
      const v1 = await col.run({ ...filter, ticks: 2 });
      const v2 = await col.run({ ...filter, ticks: 1, kv: v1.kv });
      const samples = v2.events.filter((e) => e.kind === 'telemetry' && e.name === 'samples').map((e) => (e as { value: number }).value);
      expect(samples, col.name).toEqual([3]);
    }
  });

  it('kv carried across an update: the new version continues from the old one on every engine', async () => {
    const counter = cases.find((c) => c.name === 'counter')!;
    for (const col of columns) {
      const v1 = await col.run({ ...counter, ticks: 3 });
      const v2 = await col.run({ ...counter, ticks: 2, kv: v1.kv });
      const counts = [...v1.events, ...v2.events].filter((e) => e.kind === 'telemetry').map((e) => (e as { value: number }).value);
      expect(counts, col.name).toEqual([1, 2, 3, 4, 5]);
    }
  });
});
