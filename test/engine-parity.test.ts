// The simulator's two engines give the same observable behaviour: every example module, and a few
// made to fail in each way, through the WasmEngine interface on V8 and on wasm3: the same load
// verdict (code and message), the same results, faults (code and message), host effects (kv,
// telemetry, logs) and memory size, call after call. Two differences, by design: a blown budget's
// detail (V8 measures time, wasm3 instructions), and a grow past the memory limit, which wasm3
// stops at the grow (a hostile module never gets the memory) while V8 finishes the call and then
// finds it over the limit: the same fault, detail and page count, but no return value.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat, loadModuleFile } from '../cli/wat.js';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import type { EntryPoint, WasmEngine } from '../device-sim/engine/types.js';
import { Wasm3Engine } from '../device-sim/engine/wasm3-engine.js';
import type { HostEnv } from '../device-sim/host-abi.js';
import { sha256, toHex } from '../protocol/crypto.js';
import { WfError } from '../protocol/errors.js';

const EXAMPLES = join(import.meta.dirname, '../examples/wat');
const CAPS = ['clock', 'config', 'gpio', 'kv', 'log', 'sensor', 'telemetry'];

/** Modules that fail in the ways the examples do not. */
const EXTRA: Record<string, string> = {
  'host-pointer-out-of-bounds': `(module (import "wf" "log" (func $log (param i32 i32))) (memory (export "memory") 1 1)
    (func (export "wf_init") (result i32) (call $log (i32.const 65530) (i32.const 100)) (i32.const 0))
    (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'no-exported-memory': `(module (import "wf" "log" (func $log (param i32 i32))) (memory 1 1)
    (func (export "wf_init") (result i32) (call $log (i32.const 0) (i32.const 1)) (i32.const 0))
    (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'divide-by-zero-in-tick': `(module (memory (export "memory") 1 1) (global $n (mut i32) (i32.const 2))
    (func (export "wf_init") (result i32) (i32.const 0))
    (func (export "wf_tick") (result i32) (global.set $n (i32.sub (global.get $n) (i32.const 1))) (i32.div_u (i32.const 1) (global.get $n))))`,
  'trap-in-start': `(module (memory (export "memory") 1 1) (func $s unreachable) (start $s)
    (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'kv-and-config': `(module (import "wf" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
    (import "wf" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
    (import "wf" "telemetry" (func $telemetry (param i32 i32 f64) (result i32)))
    (memory (export "memory") 1 1) (data (i32.const 0) "modebad")
    (func (export "wf_init") (result i32)
      (drop (call $telemetry (i32.const 0) (i32.const 4) (f64.convert_i32_s (call $config_get (i32.const 0) (i32.const 4) (i32.const 100) (i32.const 16)))))
      (drop (call $telemetry (i32.const 0) (i32.const 4) (f64.convert_i32_s (call $config_get (i32.const 4) (i32.const 3) (i32.const 100) (i32.const 16)))))
      (call $kv_set (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 4)))
    (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'memory-over-limit-from-the-start': `(module (memory (export "memory") 40)
    (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 0)))`,
  'grow-within-limit': `(module (memory (export "memory") 1)
    (func (export "wf_init") (result i32) (drop (memory.grow (i32.const 3))) (i32.const 0)) (func (export "wf_tick") (result i32) (memory.grow (i32.const 0))))`,
};

type Step = Record<string, unknown>;

async function run(engine: WasmEngine, bytes: Uint8Array, seed: string): Promise<Step[]> {
  const env: HostEnv = { seed, capabilities: CAPS, config: { mode: 'fast' }, kv: {}, clockOffsetMs: 0 };
  const steps: Step[] = [];
  let inst;
  try {
    inst = await engine.load(bytes, { key: toHex(sha256(bytes)), env, maxPages: 16, budgetMs: 2000 });
  } catch (err) {
    const e = err as WfError;
    return [{ load: e.code, detail: e.code === 'MODULE_TIMEOUT' ? '(budget)' : e.message }];
  }
  steps.push({ load: 'ok' });
  const entries: EntryPoint[] = ['wf_init', 'wf_tick', 'wf_tick', 'wf_tick', 'wf_health'];
  for (const entry of entries) {
    const out = await inst.call(entry, 2000);
    const stoppedAtGrow = engine.name === 'wasm3' && out.fault?.code === 'MODULE_OUT_OF_MEMORY';
    steps.push({ entry, value: stoppedAtGrow ? '(stopped at the grow)' : out.value, fault: out.fault && { code: out.fault.code, detail: out.fault.code === 'MODULE_TIMEOUT' ? '(budget)' : out.fault.detail }, effects: out.effects, pages: out.pages });
    if (out.fault) break; // as the runner: a fault ends the module's run
  }
  await inst.dispose();
  return steps;
}

/** The first fault's code, wherever it happened (load or call). */
const verdict = (steps: Step[]): string => {
  for (const s of steps) {
    if (s.load && s.load !== 'ok') return String(s.load);
    if (s.fault) return String((s.fault as { code: string }).code);
  }
  return 'ok';
};

describe('engine parity: V8 and wasm3 behave the same', () => {
  let v8: NodeEngine;
  let w3: Wasm3Engine;
  const modules: Record<string, Uint8Array> = {};

  beforeAll(async () => {
    v8 = new NodeEngine({ workers: 1 });
    w3 = new Wasm3Engine();
    for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.wat'))) modules[f.replace('.wat', '')] = await loadModuleFile(join(EXAMPLES, f));
    for (const [name, text] of Object.entries(EXTRA)) modules[name] = await compileWat(text);
  });
  afterAll(async () => {
    await v8?.close();
    await w3?.close();
  });

  it('every module: same load verdict, results, faults, host effects and memory, call after call', async () => {
    const verdicts: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(modules)) {
      for (const seed of ['board-a', 'board-b', 'board-c']) {
        const [a, b] = [await run(v8, bytes, seed), await run(w3, bytes, seed)];
        expect({ name, seed, steps: b }).toEqual({ name, seed, steps: a.map((st) => ((st.fault as { code?: string } | undefined)?.code === 'MODULE_OUT_OF_MEMORY' ? { ...st, value: '(stopped at the grow)' } : st)) });
        verdicts[`${name}/${seed}`] = verdict(b);
      }
    }
    // The examples cover every way to fail (a hollow run would say "ok" everywhere).
    expect(new Set(Object.values(verdicts))).toEqual(
      new Set(['ok', 'MODULE_TRAP', 'MODULE_TIMEOUT', 'MODULE_OUT_OF_MEMORY', 'MODULE_INVALID', 'ABI_MISSING_EXPORT']),
    );
    expect(verdicts['trap-init/board-a']).toBe('MODULE_TRAP');
  }, 120_000);
});
