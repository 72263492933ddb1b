// Node's WebAssembly (V8) behind the WasmEngine interface, run in a small pool of worker threads,
// each hosting many instances (1000 simulated devices share a few workers, not 1000 isolates).
// Each worker runs one call at a time. The budget counts the module's own work only: the worker
// marks in shared memory when module code starts and stops, and the watchdog here reads that mark
// (a busy main thread, a slow compile or the worker's queue do not count). A call that blows its
// budget gets the worker terminated and respawned, and its other instances re-created
// (re-instantiated and wf_init run again, as after a reboot of that module).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WfError } from '../../protocol/errors.js';
import type { HostEffect } from '../host-abi.js';
import type { CallOutcome, EntryPoint, LoadOptions, ModuleInstance, WasmEngine } from './types.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

/** The compiled worker script: beside this file when running from dist/, else from dist/ (vitest runs the .ts). */
export function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const local = join(dirname(here), 'worker.js');
  if (!here.endsWith('.ts') && existsSync(local)) return local;
  const fromDist = resolve(dirname(here), '../../dist/device-sim/engine/worker.js');
  if (!existsSync(fromDist)) throw new Error(`${fromDist} is missing: run "npm run build" first`);
  return fromDist;
}

type Request = WorkerRequest extends infer R ? (R extends { job: number } ? Omit<R, 'job'> : never) : never;

interface Job {
  request: Request;
  budgetMs: number;
  /** The instance the job runs for: one that blows its budget is not re-created. */
  owner?: NodeInstance;
  done(reply: WorkerReply): void;
}

const TIMEOUT_REPLY = (budgetMs: number): WorkerReply => ({
  job: -1,
  outcome: { fault: { code: 'MODULE_TIMEOUT', detail: `ran past its ${budgetMs} ms budget` }, effects: [], pages: 0 },
});

/** A job that never reaches module code (a wedged worker) is given up after this long. */
const HOST_STALL_MS = 60_000;

class PoolWorker {
  private worker!: Worker;
  /** Shared with the worker: the job whose module code runs (0: none) and since when (see worker.ts). */
  private clock!: { job: Int32Array; since: Float64Array };
  private queue: Job[] = [];
  private busy: { job: Job; id: number; timer: NodeJS.Timeout; sent: number } | null = null;
  private nextJob = 1;
  readonly instances = new Set<NodeInstance>();
  closed = false;

  constructor(private readonly script: string) {
    this.spawn();
  }

  private spawn(): void {
    const shared = new SharedArrayBuffer(16);
    this.clock = { job: new Int32Array(shared, 0, 2), since: new Float64Array(shared, 8, 1) };
    this.worker = new Worker(this.script, { workerData: { clock: shared } });
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    this.worker.on('error', () => this.restart('worker error'));
  }

  submit(job: Job, front = false): void {
    if (front) this.queue.unshift(job);
    else this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    const id = this.nextJob++;
    const timer = setTimeout(() => this.watch(), job.budgetMs);
    this.busy = { job, id, timer, sent: performance.now() };
    this.worker.postMessage({ ...job.request, job: id } as WorkerRequest);
  }

  /**
   * The watchdog: a job is stopped only when its own module code has run past the budget. A job
   * not in module code (queued, compiling, or done with its answer not read yet because this
   * thread was busy) is looked at again later.
   */
  private watch(): void {
    const busy = this.busy;
    if (!busy) return;
    const now = performance.timeOrigin + performance.now();
    let wait = busy.job.budgetMs;
    if (Atomics.load(this.clock.job, 0) === busy.id) {
      const ran = now - this.clock.since[0];
      if (ran >= busy.job.budgetMs) return this.onTimeout();
      wait = busy.job.budgetMs - ran;
    } else if (performance.now() - busy.sent > HOST_STALL_MS) {
      return this.onTimeout();
    }
    busy.timer = setTimeout(() => this.watch(), Math.max(1, wait));
  }

  private onReply(reply: WorkerReply): void {
    if (!this.busy || reply.job !== this.busy.id) return; // a late answer from before a restart
    const { job, timer } = this.busy;
    clearTimeout(timer);
    this.busy = null;
    job.done(reply);
    this.pump();
  }

  private onTimeout(): void {
    const job = this.busy?.job;
    this.busy = null;
    job?.owner?.markLost(`a call blew its ${job.budgetMs} ms budget`);
    if (job) job.done(TIMEOUT_REPLY(job.budgetMs));
    this.restart('budget');
  }

  /** Terminate and respawn; the instances living here are re-created before anything else runs. */
  private restart(_why: string): void {
    if (this.closed) return;
    const old = this.worker;
    old.removeAllListeners('message');
    old.removeAllListeners('error');
    old.on('error', () => {});
    void old.terminate();
    if (this.busy) {
      clearTimeout(this.busy.timer);
      const job = this.busy.job;
      this.busy = null;
      job.done({ job: -1, outcome: { fault: { code: 'MODULE_TRAP', detail: 'worker crashed' }, effects: [], pages: 0 } });
    }
    this.spawn();
    const reloads: Job[] = [];
    for (const inst of this.instances) reloads.push(...inst.reloadJobs());
    this.queue.unshift(...reloads);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.busy) clearTimeout(this.busy.timer);
    const pending = [...(this.busy ? [this.busy.job] : []), ...this.queue];
    this.busy = null;
    this.queue = [];
    for (const job of pending) job.done({ job: -1, outcome: { fault: { code: 'MODULE_TRAP', detail: 'engine closed' }, effects: [], pages: 0 } });
    await this.worker.terminate();
  }
}

let nextInstanceId = 1;

class NodeInstance implements ModuleInstance {
  readonly id = nextInstanceId++;
  private disposed = false;
  /** Lost when re-creation after a worker restart failed: the next call reports it. */
  private lost: string | null = null;
  /** Effects of a re-run wf_init after a worker restart, delivered with the next call. */
  private carried: HostEffect[] = [];

  constructor(
    private readonly worker: PoolWorker,
    private readonly bytes: Uint8Array,
    private readonly opts: LoadOptions,
  ) {}

  markLost(why: string): void {
    this.lost ??= why;
  }

  loadRequest(): Request {
    return { op: 'load', id: this.id, key: this.opts.key, bytes: this.bytes, env: this.opts.env, maxPages: this.opts.maxPages };
  }

  /** Jobs that re-create this instance on a fresh worker (load, then wf_init as after a reboot). */
  reloadJobs(): Job[] {
    if (this.disposed || this.lost) return [];
    return [
      {
        request: this.loadRequest(),
        budgetMs: this.opts.budgetMs,
        owner: this,
        done: (r) => {
          if (r.error || r.outcome?.fault) this.lost = `re-creation after a worker restart failed: ${r.error?.detail ?? r.outcome?.fault?.detail}`;
        },
      },
      {
        request: { op: 'call', id: this.id, name: 'wf_init' },
        budgetMs: this.opts.budgetMs,
        owner: this,
        done: (r) => {
          if (r.outcome) this.absorb(r.outcome);
          if (r.outcome?.fault || (r.outcome?.value ?? 0) !== 0) this.lost ??= 'wf_init failed after a worker restart';
        },
      },
    ];
  }

  /** Keep the kv copy current, so a re-created instance sees what the module wrote. */
  private absorb(outcome: CallOutcome): void {
    for (const e of outcome.effects) if (e.kind === 'kv') this.opts.env.kv[e.key] = e.value;
    this.carried.push(...outcome.effects);
  }

  call(name: EntryPoint, budgetMs: number): Promise<CallOutcome> {
    if (this.disposed) return Promise.resolve({ fault: { code: 'MODULE_TRAP', detail: 'instance disposed' }, effects: [], pages: 0 });
    if (this.lost) return Promise.resolve({ fault: { code: 'MODULE_TRAP', detail: this.lost }, effects: this.takeCarried(), pages: 0 });
    return new Promise((resolveCall) => {
      this.worker.submit({
        request: { op: 'call', id: this.id, name },
        budgetMs,
        owner: this,
        done: (reply) => {
          const outcome = reply.outcome ?? { fault: { code: 'MODULE_TRAP', detail: 'no outcome' }, effects: [], pages: 0 };
          this.absorb(outcome);
          resolveCall({ ...outcome, effects: this.takeCarried() });
        },
      });
    });
  }

  private takeCarried(): HostEffect[] {
    const out = this.carried;
    this.carried = [];
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.instances.delete(this);
    await new Promise<void>((done) => this.worker.submit({ request: { op: 'drop', id: this.id }, budgetMs: 5000, done: () => done() }));
  }
}

export interface NodeEngineOptions {
  /** Worker threads in the pool (default: 2, at most the machine's parallelism). */
  workers?: number;
}

export class NodeEngine implements WasmEngine {
  readonly name = 'v8' as const;
  private readonly pool: PoolWorker[];

  constructor(opts: NodeEngineOptions = {}) {
    const n = Math.max(1, opts.workers ?? Math.min(2, availableParallelism()));
    const script = workerScript();
    this.pool = Array.from({ length: n }, () => new PoolWorker(script));
  }

  async load(bytes: Uint8Array, opts: LoadOptions): Promise<ModuleInstance> {
    // The least-loaded worker takes the new instance.
    const worker = this.pool.reduce((a, b) => (b.instances.size < a.instances.size ? b : a));
    const inst = new NodeInstance(worker, bytes, { ...opts, env: { ...opts.env, kv: { ...opts.env.kv } } });
    const reply = await new Promise<WorkerReply>((done) => worker.submit({ request: inst.loadRequest(), budgetMs: opts.budgetMs, done }));
    if (reply.error) throw new WfError(reply.error.code, reply.error.detail);
    if (reply.outcome?.fault) throw new WfError(reply.outcome.fault.code, `instantiation: ${reply.outcome.fault.detail}`);
    worker.instances.add(inst);
    return inst;
  }

  async close(): Promise<void> {
    await Promise.all(this.pool.map((w) => w.close()));
  }
}
