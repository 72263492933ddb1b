// Engine columns of the parity matrix (test/parity.test.ts). Each column runs one module as
// probation does — the step-6 import check, load, wf_init, then N ticks (wf_health after each when
// exported), stopping at the first fault — and returns what a user could observe: the host calls
// in order, the fault with its reason code, and the kv store after. A simulator engine is a column
// by one line: wasmEngineColumn('<name>', () => new ItsEngine()).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WasmEngine } from '../../device-sim/engine/types.js';
import type { HostEffect } from '../../device-sim/host-abi.js';
import { faultOf } from '../../device-sim/probation.js';
import { checkModuleImports } from '../../device-sim/update-steps.js';
import { asWfError } from '../../protocol/errors.js';
import { sha256, toHex } from '../../protocol/crypto.js';
import { describeModule, inspectWasm } from '../../protocol/wasm-inspect.js';

export const ALL_CAPABILITIES = ['clock', 'config', 'gpio', 'kv', 'log', 'sensor', 'telemetry'];

/** One row of the matrix: a module and how the device runs it. */
export interface Case {
  name: string;
  wasm: Uint8Array;
  /** The module file (the C runner reads it from disk). */
  path: string;
  ticks: number;
  /** The manifest's page limit (default: what `module publish` derives from the module). */
  maxPages?: number;
  config?: Record<string, string>;
  /** kv entries before the run, hex → hex (the state an update carries over). */
  kv?: Record<string, string>;
  seed?: string;
}

export type TraceEvent =
  | { kind: 'telemetry'; name: string; value: number }
  | { kind: 'gpio'; pin: number; value: number }
  | { kind: 'kv'; key: string; value: string }
  | { kind: 'log'; text: string };

export interface Trace {
  events: TraceEvent[];
  fault: { entry: string; code: string; detail: string } | null;
  kv: Record<string, string>;
}

export interface EngineColumn {
  name: string;
  run(c: Case): Promise<Trace>;
  close(): Promise<void>;
}

export function pagesOf(c: Case): number {
  if (c.maxPages !== undefined) return c.maxPages;
  try {
    return describeModule(c.wasm).maxPages;
  } catch {
    return inspectWasm(c.wasm).memory?.initialPages ?? 1;
  }
}

const CALL_BUDGET_MS = 300;

/** A simulator engine (WasmEngine) as a column, driven as device-sim/runners.ts drives it. */
export function wasmEngineColumn(name: string, make: () => WasmEngine): EngineColumn {
  const engine = make();
  return {
    name,
    close: () => engine.close(),
    async run(c: Case): Promise<Trace> {
      const events: TraceEvent[] = [];
      const kv: Record<string, string> = { ...c.kv };
      const absorb = (effects: HostEffect[]) => {
        for (const e of effects) {
          if (e.kind === 'kv') kv[e.key] = e.value;
          events.push(e.kind === 'log' ? { kind: 'log', text: e.text } : e);
        }
      };
      const done = (fault: Trace['fault']): Trace => ({ events, fault, kv });
      try {
        checkModuleImports(c.wasm, ALL_CAPABILITIES);
      } catch (err) {
        const e = asWfError(err);
        return done({ entry: 'load', code: e.code, detail: e.message });
      }
      const env = { seed: c.seed ?? 'parity', capabilities: ALL_CAPABILITIES, config: c.config ?? {}, kv: { ...c.kv }, clockOffsetMs: 0 };
      let instance;
      try {
        instance = await engine.load(c.wasm, { key: toHex(sha256(c.wasm)), env, maxPages: pagesOf(c), budgetMs: CALL_BUDGET_MS });
      } catch (err) {
        const e = asWfError(err, 'MODULE_INVALID');
        return done({ entry: 'load', code: e.code, detail: e.message });
      }
      const health = inspectWasm(c.wasm).exports.some((x) => x.name === 'wf_health');
      const call = async (entry: 'wf_init' | 'wf_tick' | 'wf_health') => {
        const outcome = await instance.call(entry, CALL_BUDGET_MS);
        absorb(outcome.effects);
        const f = faultOf(entry, outcome);
        return f ? { entry, code: f.code, detail: f.detail } : null;
      };
      try {
        let fault = await call('wf_init');
        for (let i = 0; !fault && i < c.ticks; i++) {
          fault = await call('wf_tick');
          if (!fault && health) fault = await call('wf_health');
        }
        return done(fault);
      } finally {
        await instance.dispose();
      }
    },
  };
}

export const WF_RUN = join(process.cwd(), 'firmware-host', 'build', 'wf-run');

/** The C host's engine (WAMR + the ABI v1 natives, firmware-host/tests/wf_run.c) as a column. */
export function wamrColumn(): EngineColumn {
  if (!existsSync(WF_RUN)) throw new Error(`${WF_RUN} is missing: run "bash firmware-host/scripts/build.sh"`);
  return {
    name: 'wamr',
    close: async () => {},
    async run(c: Case): Promise<Trace> {
      const args = ['--module', c.path, '--ticks', String(c.ticks), '--max-pages', String(pagesOf(c)), '--seed', c.seed ?? 'parity', '--caps', ALL_CAPABILITIES.join(',')];
      for (const [k, v] of Object.entries(c.config ?? {})) args.push('--config', `${k}=${v}`);
      for (const [k, v] of Object.entries(c.kv ?? {})) args.push('--kv', `${k}=${v}`);
      const { stdout } = await promisify(execFile)(WF_RUN, args, { env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, timeout: 60_000 });
      return JSON.parse(stdout) as Trace;
    },
  };
}

/**
 * What must be equal across hosts. Trap names are normalized by every host (protocol/traps.ts);
 * a budget, memory or load failure is compared by its reason code and where it happened, since
 * hosts word their limits differently (milliseconds on the simulator, instructions on WAMR).
 */
export function observable(t: Trace): unknown {
  const fault = t.fault && (['MODULE_TRAP', 'MODULE_INIT_FAILED', 'MODULE_HEALTH'].includes(t.fault.code) ? t.fault : { entry: t.fault.entry, code: t.fault.code });
  return { events: t.events, fault, kv: t.kv, probation: t.fault ? `rolled_back(${t.fault.code})` : 'committed' };
}
