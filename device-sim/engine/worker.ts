// Worker thread hosting many module instances. The agent's thread keeps the time budget: a call
// that does not answer in time gets this whole worker terminated, since V8 cannot interrupt
// a running Wasm function from inside.
import { parentPort } from 'node:worker_threads';
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
    const instance = new WebAssembly.Instance(module, host.imports);
    const memory = instance.exports.memory instanceof WebAssembly.Memory ? instance.exports.memory : undefined;
    host.bindMemory(memory ? wasmMemory(memory) : undefined);
    hosted.set(msg.id, { instance, host, memory, maxPages: msg.maxPages });
    return { job: msg.job };
  } catch (err) {
    const detail = (err as Error).message;
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
      outcome.value = Number((fn as () => number)());
    } catch (err) {
      const detail = err instanceof HostTrap ? `host: ${err.message}` : (err as Error).message;
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
