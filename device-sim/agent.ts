// One simulated device: the reference implementation of the device side (docs/device-sim.md).
// This file wires the parts and takes directives in (checks 1-4); the parts each do one job:
//   session.ts       MQTT connect, subscriptions, reconnect, publish
//   kv-store.ts      kv entries per component, batched writes, undone on revert
//   runners.ts       the modules that run: committed ones, and a trial under probation
//   update-steps.ts  the update flow as named steps, moved by protocol/update-table.ts
import { EventEmitter } from 'node:events';
import { ABI_VERSION, BASE_CAPABILITIES } from '../protocol/abi.js';
import { fromHex, sha256, toHex } from '../protocol/crypto.js';
import { checkBundle, type CheckedBundle, type DeviceContext } from '../protocol/device-checks.js';
import { asWfError, WfError } from '../protocol/errors.js';
import { CHUNK_SIZE_MAX, decodeBundle, decodeChunkResponse, encodeHello, encodeOnline, encodeReport, encodeTelemetry, type ChunkResponse, type Report, type Telemetry } from '../protocol/messages.js';
import type { RootState } from '../protocol/payloads/root-chain.js';
import { FINAL_STATES, type DeviceState as ReportState } from '../protocol/states.js';
import { PartialFile } from './download.js';
import { FreshnessWatch } from './freshness.js';
import type { WasmEngine } from './engine/types.js';
import { KvStore } from './kv-store.js';
import { bootDecision, DEFAULT_PROBATION, type ProbationPolicy } from './probation.js';
import { Runners } from './runners.js';
import { DeviceSession, type DeviceTls } from './session.js';
import { StateDir, type DeviceState, type Trial } from './slots.js';
import { raiseTrust, Stopped, TRANSIENT, UpdateSteps, type Job } from './update-steps.js';

/** Outcomes a directive that comes again is checked anew for: transient failures, and trust
 *  rollbacks (the server re-sends a retained directive with the current key document). */
const RECHECK: ReadonlySet<string> = new Set([...TRANSIENT, 'KEYDOC_ROLLBACK', 'ROOT_ROLLBACK']);

export const AGENT_VERSION = 'wasmfleet-sim/0.1.0';

/** Faults the fleet harness injects into one agent (faults.ts builds them). */
export interface AgentFaults {
  /** Alter or drop (null) a chunk response before the device sees it: corruption, loss (pulled or streamed). */
  chunk?(resp: ChunkResponse, via: 'pull' | 'stream'): ChunkResponse | null;
  /** Extra latency per chunk response, in ms: a slow link. */
  chunkDelayMs?(): number;
}

export interface AgentOptions {
  deviceId: string;
  mqttUrl: string;
  /** MQTT credentials: username = device id, password = the device token. */
  username?: string;
  password?: string;
  /** TLS to the broker (mqtts://, wss://): CA, and a client certificate instead of the password. */
  tls?: DeviceTls;
  /** The pinned root public key: the only trust anchor a device has. */
  rootPublicKey: Uint8Array;
  stateDir: string;
  engine: WasmEngine;
  /** Seed of the simulated gpio/sensors (default: the device id). */
  seed?: string;
  capabilities?: string[];
  /** Host kind announced in the hello (default: the engine's name; a rehearsal twin announces its real twin's). */
  hostKind?: 'v8' | 'wasm3' | 'wamr';
  /** Bytes of linear memory a module may have. */
  memory?: number;
  /** Chunk size the device asks for (and announces as max_chunk). */
  chunkSize?: number;
  window?: number;
  chunkTimeoutMs?: number;
  chunkTries?: number;
  /** Chunk fan-out (protocol.md §5.2): stream an image from its image topic first, then pull what is missing. Off by default: on this project's benchmark it moved the bytes no faster than pull and sent devices 1.6–2.7× the image (docs/device-sim.md). */
  fanout?: boolean;
  /** Time budget per wf_* call. */
  callBudgetMs?: number;
  probation?: Partial<ProbationPolicy>;
  /** The device clock's error, in ms (fault injection). */
  clockOffsetMs?: number;
  reconnectPeriodMs?: number;
  /** Pause before a transiently failed directive is tried again. */
  retryDelayMs?: number;
  faults?: AgentFaults;
  /** Seconds after boot without a valid freshness statement before the device reports stale (default 3600). */
  freshnessGraceS?: number;
  /** How often the device looks at its freshness, in ms (default 10 s). */
  freshnessCheckMs?: number;
}

/** Emitted as 'progress' for every chunk written (reports are throttled; fault injection is not). */
export interface DownloadProgress {
  targetSequence: number;
  bytes: number;
  total: number;
}

export interface AgentStatus {
  state: ReportState;
  reason?: string;
  sequence: number;
  targetSequence?: number;
  running: { component: string; version: string }[];
  connected: boolean;
}

type Defaults = Required<Omit<AgentOptions, 'username' | 'password' | 'tls' | 'faults' | 'probation'>>;

/** Options given as undefined take the default (a flag not given on a command line, say). */
function withDefaults(options: AgentOptions): Defaults & AgentOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as AgentOptions;
  return {
    seed: options.deviceId,
    hostKind: options.engine.name,
    capabilities: [...BASE_CAPABILITIES, 'gpio', 'sensor'].sort(),
    memory: 1024 * 1024,
    chunkSize: 4096,
    window: 6,
    chunkTimeoutMs: 2000,
    chunkTries: 8,
    fanout: false,
    callBudgetMs: 1000,
    clockOffsetMs: 0,
    reconnectPeriodMs: 1000,
    retryDelayMs: 5000,
    freshnessGraceS: 3600,
    freshnessCheckMs: 10_000,
    ...given,
  };
}

export class DeviceAgent extends EventEmitter {
  readonly id: string;
  private readonly opts: Defaults & AgentOptions;
  private readonly policy: ProbationPolicy;
  private readonly store: StateDir;
  private state!: DeviceState;
  private readonly session: DeviceSession;
  private readonly kv: KvStore;
  private readonly runners: Runners;
  private readonly steps: UpdateSteps;
  private readonly timers = new Set<NodeJS.Timeout>();
  private freshnessTimer: NodeJS.Timeout | null = null;
  private readonly freshness: FreshnessWatch;
  private stale = false;
  private job: Job | null = null;
  private jobDone: Promise<void> = Promise.resolve();
  private next: { bytes: Uint8Array; digest: string } | null = null;
  private stopped = false;
  private started = false;

  constructor(options: AgentOptions) {
    super();
    this.id = options.deviceId;
    this.opts = withDefaults(options);
    this.policy = { ...DEFAULT_PROBATION, ...options.probation };
    this.store = new StateDir(options.stateDir);
    this.freshness = new FreshnessWatch(this.opts.freshnessGraceS, () => this.nowSec());
    this.kv = new KvStore(this.store);
    this.session = new DeviceSession(this.opts, {
      onConnected: (s) => this.announce(s),
      onClosed: () => this.steps.pauseDownload(),
      onDirective: (bytes) => {
        if (!this.stopped) this.onDirective(bytes);
      },
      onChunk: (bytes, via) => {
        if (!this.stopped) this.onChunk(bytes, via);
      },
      onFreshness: (bytes) => {
        if (!this.stopped) this.onFreshness(bytes);
      },
    });
    this.runners = new Runners({
      engine: this.opts.engine,
      store: this.store,
      kv: this.kv,
      seed: this.opts.seed,
      capabilities: this.opts.capabilities,
      clockOffsetMs: this.opts.clockOffsetMs,
      callBudgetMs: this.opts.callBudgetMs,
      policy: this.policy,
      state: () => this.state,
      telemetry: (t) => this.onTelemetry(t),
      log: (line) => this.emit('log', line),
    });
    this.steps = new UpdateSteps({
      store: this.store,
      partial: new PartialFile(this.store.downloadDir),
      session: this.session,
      runners: this.runners,
      kv: this.kv,
      capabilities: this.opts.capabilities,
      chunkSize: this.opts.chunkSize,
      window: this.opts.window,
      chunkTimeoutMs: this.opts.chunkTimeoutMs,
      chunkTries: this.opts.chunkTries,
      fanout: this.opts.fanout,
      retryDelayMs: this.opts.retryDelayMs,
      state: () => this.state,
      nowSec: () => this.nowSec(),
      stopped: () => this.stopped,
      emit: (event, value) => this.emit(event, value),
      later: (ms, fn) => this.later(ms, fn),
      retry: (bytes, digest) => {
        if (!this.job && this.state.last?.directiveDigest === digest) this.onDirective(bytes);
      },
      present: (r) => this.present(r),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Boot: restore the state, resume a trial or run the committed modules, then connect. */
  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    this.state = this.store.loadState();
    this.steps.restore();
    const trial = this.state.trial;
    if (trial) await this.bootWithTrial(trial);
    else await this.runners.startAllCommitted();
    this.steps.refreshRunning();
    this.stale = this.freshness.status().stale;
    this.freshnessTimer = setInterval(() => this.checkFreshness(), this.opts.freshnessCheckMs);
    this.freshnessTimer.unref();
    this.session.connect();
    // A directive being worked on when the device stopped: carry on with it (download resumes).
    const pending = this.store.loadPending();
    if (pending && !this.state.trial) this.onDirective(pending);
  }

  /** Stop everything this agent started: connection, timers, modules. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.freshnessTimer) clearInterval(this.freshnessTimer);
    this.job?.abort.abort();
    this.steps.abortDownload();
    // Modules first: a probation waiting on its next tick ends at once, then the job unwinds.
    await this.runners.stopAll();
    await this.jobDone.catch(() => {});
    await this.runners.stopAll();
    this.runners.clear();
    this.kv.close();
    await this.session.close();
  }

  status(): AgentStatus {
    const r = this.steps.shown;
    return {
      state: r.state,
      reason: r.reason,
      sequence: r.sequence,
      targetSequence: r.targetSequence,
      running: r.running.map((c) => ({ component: c.component, version: c.version })),
      connected: this.session.connected,
    };
  }

  /** Fault injection (a fake clock): move the device's clock, e.g. past its freshness window. */
  setClockOffset(ms: number): void {
    this.opts.clockOffsetMs = ms;
    this.checkFreshness();
  }

  /** Fault injection: drop the TCP connection as a flaky link would (the client reconnects). */
  dropConnection(): void {
    this.session.drop();
  }

  get downloading(): boolean {
    return this.job?.stage === 'downloading';
  }

  // ---------------------------------------------------------------- session

  /** Every (re)connect: announce hello + online, re-publish the last report, resume a download. */
  private async announce(s: DeviceSession): Promise<void> {
    const hello = encodeHello({
      host: this.opts.hostKind,
      abi: ABI_VERSION,
      capabilities: this.opts.capabilities,
      maxChunk: this.opts.chunkSize,
      memory: this.opts.memory,
      agent: AGENT_VERSION,
      running: this.runners.running(),
    });
    await s.publishAsync('hello', hello, true);
    await s.publishAsync('online', encodeOnline(true), true);
    // A broker that restarted has lost the retained report: publish it again.
    await s.publishAsync('report', encodeReport(this.steps.shown), true);
    if (s.connected) this.steps.resumeDownload();
  }

  private onChunk(payload: Uint8Array, via: 'pull' | 'stream'): void {
    let resp: ChunkResponse | null;
    try {
      // Decoded up to the protocol's largest chunk: the download itself refuses a wrong length.
      resp = decodeChunkResponse(payload, CHUNK_SIZE_MAX);
    } catch {
      return; // not attributable to a chunk: the request times out and is asked again
    }
    if (this.opts.faults?.chunk) resp = this.opts.faults.chunk(resp, via);
    if (!resp) return;
    const delay = this.opts.faults?.chunkDelayMs?.() ?? 0;
    const deliver = (r: ChunkResponse) => this.steps.acceptChunk(r, via);
    if (delay > 0) this.later(delay, () => deliver(resp));
    else deliver(resp);
  }

  // ---------------------------------------------------------------- freshness (protocol.md §3.6)

  private onFreshness(payload: Uint8Array): void {
    const r = this.freshness.accept(payload, this.trust());
    if (r instanceof WfError) this.emit('log', `freshness statement refused: ${r.code}: ${r.message}`);
    else if (raiseTrust(this.state, r)) this.store.saveState(this.state); // a revocation or root rotation applies at once
    this.checkFreshness();
  }

  /** Stale or fresh again: a change is reported at once. */
  private checkFreshness(): void {
    if (this.stopped || !this.started) return;
    const stale = this.freshness.status().stale;
    if (stale === this.stale) return;
    this.stale = stale;
    this.emit('log', stale ? 'stale: no valid freshness statement' : 'fresh again');
    this.steps.republish();
  }

  /** A device that has done all it was told and sees no fresh statement says it may be frozen. */
  private present(r: Report): Report {
    const f = this.freshness.status();
    if (!f.stale || !FINAL_STATES.includes(r.state)) return r;
    return { state: 'stale', reason: f.reason, detail: f.detail, sequence: r.sequence, running: r.running, time: r.time };
  }

  private onTelemetry(t: Omit<Telemetry, 'time'>): void {
    const full: Telemetry = { ...t, time: this.nowSec() };
    this.session.publish('telemetry', encodeTelemetry(full), 0);
    this.emit('telemetry', full);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private nowSec(): number {
    return Math.floor((Date.now() + this.opts.clockOffsetMs) / 1000);
  }

  // ---------------------------------------------------------------- directives (checks 1-4)

  private context(): DeviceContext {
    const running = new Map<string, { version: string; manifestDigest: Uint8Array }>();
    for (const [component, slots] of Object.entries(this.state.components)) {
      const info = slots.active ? slots[slots.active] : undefined;
      if (info) running.set(component, { version: info.version, manifestDigest: fromHex(info.manifestDigest) });
    }
    return {
      ...this.trust(),
      deviceId: this.id,
      now: this.nowSec(),
      capabilities: this.opts.capabilities,
      memory: this.opts.memory,
      committedSequence: this.state.committedSequence,
      running,
    };
  }

  /** What this device trusts: the provisioned root, the root it walked to, the key document floor. */
  private trust(): { rootPublicKey: Uint8Array; root?: RootState; keydocSerial: number } {
    const root = this.state.root;
    return {
      rootPublicKey: this.opts.rootPublicKey,
      ...(root ? { root: { version: root.version, publicKey: fromHex(root.publicKey) } } : {}),
      keydocSerial: this.state.keydocSerial,
    };
  }

  /** A directive bundle arrived (retained, so also on every reconnect) or was pending on disk. */
  private onDirective(bytes: Uint8Array): void {
    let digest: string;
    try {
      digest = toHex(sha256(decodeBundle(bytes).directive));
    } catch (err) {
      if (this.job) return; // garbage while busy: nothing to defer, nothing to stop
      return this.steps.refuse(asWfError(err, 'CBOR_MALFORMED'), null);
    }
    // The same directive again: what is committed, what is in progress, or a final outcome.
    if (digest === this.state.committedDirective) return;
    if (this.job?.digest === digest || this.next?.digest === digest) return;
    const last = this.state.last;
    if (last && last.directiveDigest === digest && !(last.state === 'failed' && RECHECK.has(last.reason ?? ''))) return;

    let checked: CheckedBundle;
    try {
      checked = checkBundle(bytes, this.context());
    } catch (err) {
      // Refused once the job in progress ends: the table takes no refusal in the middle of one.
      if (this.job) return void (this.next ??= { bytes, digest });
      return this.steps.refuse(asWfError(err), digest);
    }
    if (this.job) {
      if (checked.directive.sequence <= this.job.sequence) return void (this.next ??= { bytes, digest });
      // A newer directive: abandon a download in progress and follow it (probation runs to its verdict first).
      this.next = { bytes, digest };
      if (this.job.stage === 'assigned' || this.job.stage === 'downloading') this.job.abort.abort();
      return;
    }
    this.runJob({ bytes, digest, checked, sequence: checked.directive.sequence, stage: 'assigned', abort: new AbortController() }, (job) => this.steps.run(job));
  }

  private runJob(job: Job, flow: (job: Job) => Promise<void>): void {
    this.job = job;
    this.jobDone = flow(job)
      .catch((err) => {
        if (!(err instanceof Stopped)) this.emit('log', `job crashed: ${(err as Error).stack}`);
      })
      .finally(() => {
        if (this.job === job) this.job = null;
        const next = this.next;
        this.next = null;
        if (next && !this.stopped) this.onDirective(next.bytes);
      });
  }

  /** Boot with a trial on disk: the device stopped during probation. Resume it, or call it a crash loop. */
  private async bootWithTrial(trial: Trial): Promise<void> {
    trial.boots++;
    this.store.saveState(this.state);
    await this.runners.startAllCommitted(new Set(Object.keys(trial.slots)));
    this.steps.resumeAt('installing', trial.sequence);
    const decision = bootDecision(trial.boots, this.policy);
    if (decision.action === 'revert') {
      this.steps.resumeAt('probation', trial.sequence);
      await this.steps.revert(trial, decision.code, decision.detail);
      return;
    }
    const pending = this.store.loadPending();
    let checked: CheckedBundle | undefined;
    try {
      if (pending) checked = checkBundle(pending, { ...this.context(), committedSequence: trial.sequence - 1 });
    } catch {
      checked = undefined;
    }
    const job: Job = {
      bytes: pending ?? new Uint8Array(0),
      digest: trial.directiveDigest,
      checked: checked ?? ({ keyDocument: { serial: 0 } } as unknown as CheckedBundle),
      sequence: trial.sequence,
      stage: 'probation',
      abort: new AbortController(),
    };
    this.runJob(job, (j) => this.steps.probationAndVerdict(j, trial));
  }
}
