// Worker thread hosting many module instances. The agent's thread keeps the time budget: a call
// that does not answer in time gets this whole worker terminated, since V8 cannot interrupt
// a running Wasm function from inside. What counts against the budget is the module's own code:
// this worker marks in shared memory (workerData.clock, see node-engine.ts) when a job's module
// code starts and ends, so time spent queued, compiling or waiting for a busy main thread is not
// the module's.
import { parentPort, workerData } from 'node:worker_threads';
import { normalizeTrap } from '../../protocol/traps.js';
import { buildHostImports, HostTrap, wasmMemory, type HostImports, type HostEnv } from '../host-abi.js';
import type { CallOutcome, EntryPoint } from './types.js';

export type WorkerRequest =
  | { op: 'load'; job: number; id: number; key: string; bytes: Uint8Array; env: HostEnv; maxPages: number }
  | { op: 'call'; job: number; id: number; name: EntryPoint }
  | { op: 'drop'; job: number; id: number };

export type WorkerReply = { job: number; error?: { code: 'MODULE_INVALID' | 'MODULE_TRAP'; detail: string }; outcome?: CallOutcome };

interface Hosted {
  instance: WebAssembly.Instance;
  host: HostImports;
  memory?: WebAssembly.Memory;
  maxPages: number;
}

const PAGE = 65536;
/** [job running module code, or 0] and the time it started (performance.timeOrigin + now, ms). */
const clock = { job: new Int32Array((workerData as { clock: SharedArrayBuffer }).clock, 0, 2), since: new Float64Array((workerData as { clock: SharedArrayBuffer }).clock, 8, 1) };

/** Run `fn` as module code of `job`: the budget runs only while it does. */
function asModule<T>(job: number, fn: () => T): T {
  clock.since[0] = performance.timeOrigin + performance.now();
  Atomics.store(clock.job, 0, job);
  try {
    return fn();
  } finally {
    Atomics.store(clock.job, 0, 0);
  }
}
// Many devices run the same image: compile it once per worker.
const compiled = new Map<string, WebAssembly.Module>();
const hosted = new Map<number, Hosted>();

function pagesOf(h: Hosted): number {
  return h.memory ? h.memory.buffer.byteLength / PAGE : 0;
}

function load(msg: Extract<WorkerRequest, { op: 'load' }>): WorkerReply {
  try {
    let module = compiled.get(msg.key);
    if (!module) {
      module = new WebAssembly.Module(msg.bytes as Uint8Array<ArrayBuffer>);
      if (compiled.size > 64) compiled.clear();
      compiled.set(msg.key, module);
    }
    const host = buildHostImports(msg.env);
    // Compiling is the host's work; instantiation runs the module's start function.
    const instance = asModule(msg.job, () => new WebAssembly.Instance(module, host.imports));
    const memory = instance.exports.memory instanceof WebAssembly.Memory ? instance.exports.memory : undefined;
    host.bindMemory(memory ? wasmMemory(memory) : undefined);
    const h: Hosted = { instance, host, memory, maxPages: msg.maxPages };
    // A module whose memory starts past the limit does not load (as on every host).
    if (pagesOf(h) > msg.maxPages) {
      return { job: msg.job, outcome: { fault: { code: 'MODULE_OUT_OF_MEMORY', detail: `${pagesOf(h)} pages > limit ${msg.maxPages}` }, effects: [], pages: pagesOf(h) } };
    }
    hosted.set(msg.id, h);
    return { job: msg.job };
  } catch (err) {
    const detail = err instanceof WebAssembly.RuntimeError ? normalizeTrap((err as Error).message) : (err as Error).message;
    // A link error means an import the host did not register; a RuntimeError is a trap in start.
    const code = err instanceof WebAssembly.RuntimeError ? 'MODULE_TRAP' : 'MODULE_INVALID';
    return { job: msg.job, error: { code, detail } };
  }
}

function call(msg: Extract<WorkerRequest, { op: 'call' }>): WorkerReply {
  const h = hosted.get(msg.id);
  if (!h) return { job: msg.job, outcome: { fault: { code: 'MODULE_TRAP', detail: 'instance is gone' }, effects: [], pages: 0 } };
  const fn = h.instance.exports[msg.name];
  const outcome: CallOutcome = { effects: [], pages: 0 };
  if (typeof fn !== 'function') {
    outcome.fault = { code: 'ABI_MISSING_EXPORT', detail: msg.name };
  } else {
    try {
      outcome.value = asModule(msg.job, () => Number((fn as () => number)()));
    } catch (err) {
      const detail = err instanceof HostTrap ? `host: ${err.message}` : normalizeTrap((err as Error).message);
      outcome.fault = { code: 'MODULE_TRAP', detail: `${msg.name}: ${detail}` };
    }
  }
  outcome.pages = pagesOf(h);
  // Checked after every call: V8 cannot cap memory.grow on a memory declared without a maximum.
  if (!outcome.fault && outcome.pages > h.maxPages) {
    outcome.fault = { code: 'MODULE_OUT_OF_MEMORY', detail: `${outcome.pages} pages > limit ${h.maxPages}` };
  }
  outcome.effects = h.host.drain();
  return { job: msg.job, outcome };
}

parentPort!.on('message', (msg: WorkerRequest) => {
  let reply: WorkerReply;
  if (msg.op === 'load') reply = load(msg);
  else if (msg.op === 'call') reply = call(msg);
  else {
    hosted.delete(msg.id);
    reply = { job: msg.job };
  }
  parentPort!.postMessage(reply);
});
