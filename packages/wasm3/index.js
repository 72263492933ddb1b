'use strict';
// The wasm3 binding: the native Instance, with wasm3's trap texts rewritten into the wording of
// Node's WebAssembly (V8), so a host reports the same message whichever engine ran the module.
const path = require('node:path');

let native = null;
let loadError = null;
try {
  native = require(path.join(__dirname, 'build', 'Release', 'wasm3.node'));
} catch (err) {
  loadError = err;
}

/** wasm3 trap text → V8's RuntimeError message. */
const TRAPS = {
  '[trap] unreachable executed': 'unreachable',
  '[trap] program called abort': 'unreachable',
  '[trap] program called exit': 'unreachable',
  '[trap] out of bounds memory access': 'memory access out of bounds',
  '[trap] integer divide by zero': 'divide by zero',
  '[trap] integer overflow': 'divide result unrepresentable',
  '[trap] invalid conversion to integer': 'float unrepresentable in integer range',
  '[trap] indirect call type mismatch': 'null function or function signature mismatch',
  '[trap] null table element': 'null function or function signature mismatch',
  '[trap] undefined element': 'table index is out of bounds',
  '[trap] stack overflow': 'Maximum call stack size exceeded',
  '[trap] instruction budget spent': 'instruction budget spent',
  '[trap] memory past the host limit': 'memory past the host limit',
};

function normalize(err) {
  if (err && typeof err.code === 'string' && err.code.startsWith('WASM3_') && Object.hasOwn(TRAPS, err.message)) {
    err.wasm3Message = err.message;
    err.message = TRAPS[err.message];
  }
  return err;
}

function wrap(fn) {
  return function (...args) {
    try {
      return fn.apply(this, args);
    } catch (err) {
      throw normalize(err);
    }
  };
}

/**
 * wasm3 is not a validating parser: it trusts a module's structure in places (types on its value
 * stack, branch targets). Every module goes through V8's validator first, so wasm3 only ever sees
 * valid Wasm; a refusal carries V8's message.
 */
function validate(bytes) {
  if (!(bytes instanceof Uint8Array)) throw Object.assign(new TypeError('bytes must be a Uint8Array'), { code: 'WASM3_USAGE' });
  if (WebAssembly.validate(bytes)) return;
  let message = 'invalid WebAssembly module';
  try {
    new WebAssembly.Module(bytes);
  } catch (err) {
    message = err.message;
  }
  throw Object.assign(new Error(message), { code: 'WASM3_INVALID' });
}

class Instance {
  /**
   * Parse and load a module: memory (at most maxPages 64 KiB pages), data and element segments.
   * @param {Uint8Array} bytes
   * @param {{ maxPages?: number, stackBytes?: number, validated?: boolean }} [options] validated: the
   *   caller already ran WebAssembly.validate() on these bytes (skips doing it again)
   */
  constructor(bytes, options = {}) {
    if (!native) throw Object.assign(new Error(`wasm3 binding not built: ${loadError && loadError.message}`), { code: 'WASM3_UNAVAILABLE' });
    if (!options.validated) validate(bytes);
    this.native = wrap(() => new native.Instance(bytes, options.maxPages ?? 16, options.stackBytes ?? 16384))();
  }
  /** Link a host function to an import; false when the module does not import it with that signature. */
  link(module, name, signature, fn) {
    return wrap(() => this.native.link(module, name, signature, fn))();
  }
  /** Check every import is linked, compile every function, run the start function under `fuel`. */
  start(fuel = 1e7) {
    return wrap(() => this.native.start(fuel))();
  }
  /** Call an export with at most `fuel` operations; returns its first result. */
  call(name, args = [], fuel = 1e7) {
    return wrap(() => this.native.call(name, args, fuel))();
  }
  readMemory(ptr, len) {
    return wrap(() => this.native.readMemory(ptr, len))();
  }
  writeMemory(ptr, bytes) {
    return wrap(() => this.native.writeMemory(ptr, bytes))();
  }
  get memoryBytes() {
    return this.native.memoryBytes;
  }
  get fuelUsed() {
    return this.native.fuelUsed;
  }
  dispose() {
    this.native.dispose();
  }
}

/** wasm3 signature letter of a Wasm value type. */
const SIG = { i32: 'i', i64: 'I', f32: 'f', f64: 'F' };

/** wasm3's signature string of a function type: ({params:['i32','i32'], results:['i32']}) → "i(ii)". */
function signature(type) {
  const ret = type.results.length === 0 ? 'v' : SIG[type.results[0]];
  return `${ret}(${type.params.map((p) => SIG[p]).join('')})`;
}

module.exports = {
  available: native !== null,
  loadError,
  version: native ? native.version : null,
  Instance,
  signature,
};
