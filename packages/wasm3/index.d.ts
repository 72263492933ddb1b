/** True when the native addon was built and loads in this Node. */
export declare const available: boolean;
/** Why the addon did not load (when `available` is false). */
export declare const loadError: Error | null;
/** wasm3's version ("0.5.0"), or null when unavailable. */
export declare const version: string | null;

export type ValType = 'i32' | 'i64' | 'f32' | 'f64';
export type Value = number | bigint;

/**
 * Error codes thrown (as `err.code`):
 * WASM3_INVALID (parse/compile), WASM3_LINK (an import not linked), WASM3_TRAP (a Wasm trap,
 * message in V8's wording), WASM3_FUEL (the call's operation budget ran out), WASM3_MEMORY_LIMIT
 * (memory past maxPages), WASM3_NO_EXPORT, WASM3_BOUNDS (readMemory/writeMemory range),
 * WASM3_BUSY (re-entry), WASM3_DISPOSED, WASM3_USAGE, WASM3_NO_MEMORY, WASM3_UNAVAILABLE.
 * An exception thrown by a host function is rethrown as is by call()/start().
 */
export interface Wasm3Error extends Error {
  code: string;
  /** wasm3's own text of a trap, before it was rewritten into V8's wording. */
  wasm3Message?: string;
  /** WASM3_MEMORY_LIMIT from memory.grow: the page count the module asked for. */
  requestedPages?: number;
}

export interface InstanceOptions {
  /** Linear memory limit in 64 KiB pages (default 16); memory.grow past it traps. */
  maxPages?: number;
  /** wasm3 value stack in bytes (default 16 KiB). */
  stackBytes?: number;
  /** The caller already ran WebAssembly.validate() on these exact bytes: skip it here. */
  validated?: boolean;
}

export declare class Instance {
  constructor(bytes: Uint8Array, options?: InstanceOptions);
  /** Link a host function to an import; false when the module does not import it with that signature. */
  link(module: string, name: string, signature: string, fn: (...args: Value[]) => Value | void): boolean;
  /** Check every import is linked, compile every function, run the start function under `fuel` operations. */
  start(fuel?: number): void;
  /** Call an exported function under `fuel` operations; returns its first result (bigint for i64). */
  call(name: string, args?: Value[], fuel?: number): Value | undefined;
  /** A copy of `len` bytes of linear memory at `ptr`. */
  readMemory(ptr: number, len: number): Buffer;
  writeMemory(ptr: number, bytes: Uint8Array): void;
  /** Current linear memory size in bytes. */
  readonly memoryBytes: number;
  /** Operations the last start() or call() ran. */
  readonly fuelUsed: number;
  /** Free the instance now (or as soon as the running call returns). */
  dispose(): void;
}

/** wasm3's signature string of a function type: {params:['i32','i32'], results:['i32']} → "i(ii)". */
export declare function signature(type: { params: ValType[]; results: ValType[] }): string;
