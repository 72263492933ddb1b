// The narrow engine interface the agent runs modules through: wasm3 (wasm3-engine.ts, an
// interpreter in the agent's thread) and Node's V8 (node-engine.ts, a worker pool) behind the
// same four calls; select.ts picks one.
import type { ErrorCode } from '../../protocol/errors.js';
import type { HostEffect, HostEnv } from '../host-abi.js';

export type EntryPoint = 'wf_init' | 'wf_tick' | 'wf_health';

export interface Fault {
  code: ErrorCode;
  detail: string;
}

/** What one call did: its i32 result or the fault that stopped it, plus the host side effects. */
export interface CallOutcome {
  value?: number;
  fault?: Fault;
  effects: HostEffect[];
  /** Linear memory size after the call, in 64 KiB pages. */
  pages: number;
}

export interface LoadOptions {
  /** Cache key for the compiled module (the image's SHA-256, hex). */
  key: string;
  env: HostEnv;
  /** The manifest's memory limit: growing past it is MODULE_OUT_OF_MEMORY. */
  maxPages: number;
  /** Time budget for instantiation (a start function may loop too). */
  budgetMs: number;
}

export interface ModuleInstance {
  /** Call an export with a time budget; never rejects: faults come back in the outcome. */
  call(name: EntryPoint, budgetMs: number): Promise<CallOutcome>;
  /** Free the instance; further calls fault. */
  dispose(): Promise<void>;
}

export interface WasmEngine {
  /** What the device's hello reports as its host. */
  readonly name: 'wasm3' | 'v8';
  /** Instantiate with the host imports of `env`; rejects with a WfError (MODULE_INVALID, MODULE_TIMEOUT, ...). */
  load(bytes: Uint8Array, opts: LoadOptions): Promise<ModuleInstance>;
  close(): Promise<void>;
}
