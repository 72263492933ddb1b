// The wasm3 interpreter (packages/wasm3) behind the WasmEngine interface, as a device runs
// modules: in the agent's own thread, one small wasm3 runtime per instance (~a few KiB plus the
// pages the module touches), no worker, no JIT. A call cannot hang the thread: it is bounded by
// fuel, an instruction count derived from the call's budget (budgetMs × instructionsPerMs), so
// the verdict depends on the module's own work, never on how busy the host is.
//
// Observable behaviour mirrors the V8 engine (node-engine.ts + worker.ts): the same validation
// verdicts (V8's validator runs first), the same link errors, trap messages in V8's wording, the
// same reason codes, an instance lost after a blown budget.
import { createRequire } from 'node:module';
import { ABI_MODULE } from '../../protocol/abi.js';
import { WfError } from '../../protocol/errors.js';
import { normalizeTrap } from '../../protocol/traps.js';
import { inspectWasm, type WasmInfo } from '../../protocol/wasm-inspect.js';
import { buildHostImports, HostTrap, type HostEnv, type HostImports, type LinearMemory } from '../host-abi.js';
import type { CallOutcome, EntryPoint, LoadOptions, ModuleInstance, WasmEngine } from './types.js';

type Binding = typeof import('@wasmfleet/wasm3');
type Wasm3Instance = import('@wasmfleet/wasm3').Instance;

let binding: Binding | null | undefined;

/** The native binding, or null when it was not built (no compiler or no network at install). */
export function wasm3Binding(): Binding | null {
  if (binding === undefined) {
    try {
      const loaded = createRequire(import.meta.url)('@wasmfleet/wasm3') as Binding;
      binding = loaded.available ? loaded : null;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/**
 * Instructions (wasm3 operations) a call may run per millisecond of its budget. 10,000/ms makes
 * the agent's default 1,000 ms budget 10 M instructions: the C host's default `--budget`
 * (docs/firmware-host.md), so both hosts stop the same modules.
 */
export const INSTRUCTIONS_PER_MS = 10_000;
const PAGE = 65536;

export interface Wasm3EngineOptions {
  instructionsPerMs?: number;
  /** wasm3 value stack per instance (default 16 KiB, the C host's default stack). */
  stackBytes?: number;
}

/** What the engine keeps per image digest: validated once, inspected once. */
interface Checked {
  info: WasmInfo;
  exportsMemory: boolean;
  exports: Set<string>;
}

const fault = (code: 'MODULE_TRAP', detail: string): CallOutcome => ({ fault: { code, detail }, effects: [], pages: 0 });

class Wasm3ModuleInstance implements ModuleInstance {
  private disposed = false;
  /** Set after a blown budget: the V8 engine loses such an instance, and so does this one. */
  private lost: string | null = null;

  constructor(
    private readonly inst: Wasm3Instance,
    private readonly host: HostImports,
    private readonly checked: Checked,
    private readonly maxPages: number,
    private readonly perMs: number,
  ) {}

  /** Pages of the exported memory (0 without one), as the V8 engine reports them. */
  private pages(): number {
    return this.checked.exportsMemory ? this.inst.memoryBytes / PAGE : 0;
  }

  /**
   * Each call runs in its own turn of the event loop (as a reply from a V8 worker arrives), so the
   * ticks of many devices due at once do not run, and publish, as one synchronous burst: the
   * embedded broker (aedes/mqemitter) recurses once per message queued in a burst and overflows
   * its stack on a large one.
   */
  call(name: EntryPoint, budgetMs: number): Promise<CallOutcome> {
    return new Promise((resolve) => setImmediate(() => resolve(this.callNow(name, budgetMs))));
  }

  private callNow(name: EntryPoint, budgetMs: number): Promise<CallOutcome> {
    if (this.disposed) return Promise.resolve(fault('MODULE_TRAP', 'instance disposed'));
    if (this.lost) return Promise.resolve(fault('MODULE_TRAP', this.lost));
    const outcome: CallOutcome = { effects: [], pages: 0 };
    let grownTo: number | undefined;
    if (!this.checked.exports.has(name)) {
      outcome.fault = { code: 'ABI_MISSING_EXPORT', detail: name };
    } else {
      const fuel = Math.max(1, Math.round(budgetMs * this.perMs));
      try {
        outcome.value = Number(this.inst.call(name, [], fuel));
      } catch (err) {
        const e = err as Error & { code?: string; requestedPages?: number };
        if (err instanceof HostTrap) outcome.fault = { code: 'MODULE_TRAP', detail: `${name}: host: ${e.message}` };
        else if (e.code === 'WASM3_FUEL') {
          this.lost = `a call blew its ${budgetMs} ms budget`;
          outcome.fault = { code: 'MODULE_TIMEOUT', detail: `${name}: budget of ${fuel} instructions (${budgetMs} ms) spent` };
        } else if (e.code === 'WASM3_MEMORY_LIMIT') {
          // Stopped at the grow itself (V8 lets it happen and finds the module over its limit after the call): the same verdict and detail.
          grownTo = e.requestedPages;
          outcome.fault = { code: 'MODULE_OUT_OF_MEMORY', detail: `${grownTo} pages > limit ${this.maxPages}` };
        } else outcome.fault = { code: 'MODULE_TRAP', detail: `${name}: ${normalizeTrap(e.message)}` };
      }
    }
    if (outcome.fault?.code === 'MODULE_TIMEOUT') {
      // As on V8, where the call's worker is terminated: the aborted call leaves no effects behind.
      this.host.drain();
      return Promise.resolve(outcome);
    }
    outcome.pages = grownTo ?? this.pages();
    if (!outcome.fault && outcome.pages > this.maxPages) {
      outcome.fault = { code: 'MODULE_OUT_OF_MEMORY', detail: `${outcome.pages} pages > limit ${this.maxPages}` };
    }
    outcome.effects = this.host.drain();
    return Promise.resolve(outcome);
  }

  dispose(): Promise<void> {
    if (!this.disposed) {
      this.disposed = true;
      this.inst.dispose();
    }
    return Promise.resolve();
  }
}

/** Why V8 refuses an import of each kind when the host does not provide it (Node 20's LinkError texts). */
const LINK_ERRORS: Record<string, string> = {
  func: 'function import requires a callable',
  memory: 'memory import must be a WebAssembly.Memory object',
  table: 'table import requires a WebAssembly.Table',
  global: 'global import must be a number, valid Wasm reference, or WebAssembly.Global object',
  tag: 'tag import requires a WebAssembly.Tag',
};

/** The first import the host cannot satisfy, worded as V8's LinkError, or null. */
function unresolvedImport(info: WasmInfo, host: Record<string, unknown>): string | null {
  for (const [i, imp] of info.imports.entries()) {
    const at = `WebAssembly.Instance(): Import #${i} module="${imp.module}"`;
    if (imp.module !== ABI_MODULE) return `${at} error: module is not an object or function`;
    if (imp.kind !== 'func' || typeof host[imp.name] !== 'function') return `${at} function="${imp.name}" error: ${LINK_ERRORS[imp.kind]}`;
  }
  return null;
}

export class Wasm3Engine implements WasmEngine {
  readonly name = 'wasm3';
  private readonly w3: Binding;
  private readonly perMs: number;
  private readonly stackBytes: number;
  private readonly checkedByKey = new Map<string, Checked>();

  constructor(opts: Wasm3EngineOptions = {}) {
    const b = wasm3Binding();
    if (!b) throw new Error('the wasm3 addon is not built (packages/wasm3: npm run build -w @wasmfleet/wasm3)');
    this.w3 = b;
    this.perMs = opts.instructionsPerMs ?? INSTRUCTIONS_PER_MS;
    this.stackBytes = opts.stackBytes ?? 16 * 1024;
  }

  /** V8's validator first: the same bytes are refused with the same verdict by both engines, and wasm3 sees only valid modules. */
  private check(bytes: Uint8Array, key: string): Checked {
    const known = this.checkedByKey.get(key);
    if (known) return known;
    if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
      try {
        new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      } catch (err) {
        throw new WfError('MODULE_INVALID', (err as Error).message);
      }
      throw new WfError('MODULE_INVALID', 'WebAssembly.validate() refused the module');
    }
    const info = inspectWasm(bytes);
    const checked: Checked = {
      info,
      exportsMemory: info.exports.some((e) => e.kind === 'memory' && e.name === 'memory'),
      exports: new Set(info.exports.filter((e) => e.kind === 'func').map((e) => e.name)),
    };
    if (this.checkedByKey.size > 64) this.checkedByKey.clear();
    this.checkedByKey.set(key, checked);
    return checked;
  }

  /** In its own turn of the event loop, as each call (see call()). */
  load(bytes: Uint8Array, opts: LoadOptions): Promise<ModuleInstance> {
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(this.instantiate(bytes, opts));
        } catch (err) {
          reject(err);
        }
      }),
    );
  }

  private instantiate(bytes: Uint8Array, opts: LoadOptions): ModuleInstance {
    const checked = this.check(bytes, opts.key);
    const env: HostEnv = { ...opts.env, kv: { ...opts.env.kv } };
    const host = buildHostImports(env);
    const wf = (host.imports[ABI_MODULE] ?? {}) as Record<string, (...args: never[]) => unknown>;
    const missing = unresolvedImport(checked.info, wf);
    if (missing) throw new WfError('MODULE_INVALID', missing);

    let inst: Wasm3Instance;
    try {
      inst = new this.w3.Instance(bytes, { maxPages: Math.min(opts.maxPages, 32768), stackBytes: this.stackBytes, validated: true });
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'WASM3_MEMORY_LIMIT') throw new WfError('MODULE_OUT_OF_MEMORY', `instantiation: ${e.message}`);
      throw new WfError('MODULE_INVALID', e.message);
    }
    try {
      // Linked with the module's own declared types, as V8 calls a JS import with whatever the module passes.
      for (const imp of checked.info.imports) {
        if (imp.type) inst.link(imp.module, imp.name, this.w3.signature(imp.type), wf[imp.name] as (...args: unknown[]) => number);
      }
      if (checked.exportsMemory) host.bindMemory(linearMemoryOf(inst));
      const fuel = Math.max(1, Math.round(opts.budgetMs * this.perMs));
      try {
        inst.start(fuel);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === 'WASM3_FUEL') throw new WfError('MODULE_TIMEOUT', `instantiation: budget of ${fuel} instructions (${opts.budgetMs} ms) spent`);
        if (e.code === 'WASM3_MEMORY_LIMIT') throw new WfError('MODULE_OUT_OF_MEMORY', `instantiation: ${(e as { requestedPages?: number }).requestedPages} pages > limit ${opts.maxPages}`);
        // As worker.ts: a trap in the start function is MODULE_TRAP, anything else (a link error) MODULE_INVALID.
        if (e.code === 'WASM3_TRAP') throw new WfError('MODULE_TRAP', normalizeTrap(e.message));
        throw new WfError('MODULE_INVALID', e.message);
      }
    } catch (err) {
      inst.dispose();
      throw err;
    }
    return new Wasm3ModuleInstance(inst, host, checked, opts.maxPages, this.perMs);
  }

  close(): Promise<void> {
    this.checkedByKey.clear();
    return Promise.resolve();
  }
}

function linearMemoryOf(inst: Wasm3Instance): LinearMemory {
  return {
    size: () => inst.memoryBytes,
    read: (ptr, len) => inst.readMemory(ptr, len),
    write: (ptr, bytes) => inst.writeMemory(ptr, bytes),
  };
}
