// One simulated device: the reference implementation of the device side (DESIGN.md §3).
// The update flow is a list of named steps: check → assigned → download (+ verify) → install →
// probation → commit | revert. Every step reports a state with a reason code; every state that
// must survive a restart is in the state directory (slots.ts), written atomically.
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { ABI_VERSION, BASE_CAPABILITIES } from '../protocol/abi.js';
import { fromHex, sha256, toHex } from '../protocol/crypto.js';
import { checkBundle, type CheckedBundle, type CheckedRelease, type DeviceContext } from '../protocol/device-checks.js';
import { asWfError, WfError, type ErrorCode } from '../protocol/errors.js';
import {
  CHUNK_SIZE_MAX,
  decodeBundle,
  decodeChunkResponse,
  encodeChunkRequest,
  encodeHello,
  encodeOnline,
  encodeReport,
  encodeTelemetry,
  type ChunkResponse,
  type Report,
  type RunningComponent,
  type Telemetry,
} from '../protocol/messages.js';
import type { DeviceState as ReportState } from '../protocol/states.js';
import { deviceTopic } from '../protocol/topics.js';
import { checkAbi, inspectWasm } from '../protocol/wasm-inspect.js';
import { Download, DownloadAborted, PartialFile } from './download.js';
import type { Fault, WasmEngine } from './engine/types.js';
import type { HostEffect, HostEnv } from './host-abi.js';
import { bootDecision, DEFAULT_PROBATION, type ProbationPolicy } from './probation.js';
import { ModuleRunner } from './runner.js';
import { spareOf, StateDir, type DeviceState, type SlotInfo, type SlotName, type Trial } from './slots.js';

export const AGENT_VERSION = 'wasmfleet-sim/0.1.0';

/** Faults the fleet harness injects into one agent (faults.ts builds them). */
export interface AgentFaults {
  /** Alter or drop (null) a chunk response before the device sees it: corruption, loss. */
  chunk?(resp: ChunkResponse): ChunkResponse | null;
  /** Extra latency per chunk response, in ms: a slow link. */
  chunkDelayMs?(): number;
}

export interface AgentOptions {
  deviceId: string;
  mqttUrl: string;
  /** MQTT credentials: username = device id, password = the device token. */
  username?: string;
  password?: string;
  /** The pinned root public key: the only trust anchor a device has. */
  rootPublicKey: Uint8Array;
  stateDir: string;
  engine: WasmEngine;
  /** Seed of the simulated gpio/sensors (default: the device id). */
  seed?: string;
  capabilities?: string[];
  /** Bytes of linear memory a module may have. */
  memory?: number;
  /** Chunk size the device asks for (and announces as max_chunk). */
  chunkSize?: number;
  window?: number;
  chunkTimeoutMs?: number;
  chunkTries?: number;
  /** Time budget per wf_* call. */
  callBudgetMs?: number;
  probation?: Partial<ProbationPolicy>;
  /** The device clock's error, in ms (fault injection). */
  clockOffsetMs?: number;
  reconnectPeriodMs?: number;
  /** Pause before a transiently failed directive is tried again. */
  retryDelayMs?: number;
  faults?: AgentFaults;
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

/** Download failures worth another try when the directive comes again (or after a pause). */
const TRANSIENT: ReadonlySet<string> = new Set(['CHUNK_TIMEOUT', 'CHUNK_UNKNOWN_BLOB', 'CHUNK_INVALID', 'IMAGE_DIGEST_MISMATCH', 'INTERNAL']);
const MAX_AUTO_RETRIES = 3;

interface Job {
  bytes: Uint8Array;
  digest: string;
  checked: CheckedBundle;
  sequence: number;
  stage: 'assigned' | 'downloading' | 'installing' | 'probation';
  abort: AbortController;
}

interface Staged {
  release: CheckedRelease;
  slot: SlotName;
  info: SlotInfo;
}

class Stopped extends Error {}

export class DeviceAgent extends EventEmitter {
  readonly id: string;
  private readonly opts: Required<Omit<AgentOptions, 'username' | 'password' | 'faults' | 'probation'>> & AgentOptions;
  private readonly policy: ProbationPolicy;
  private readonly store: StateDir;
  private readonly partial: PartialFile;
  private state!: DeviceState;
  private client: MqttClient | null = null;
  private readonly runners = new Map<string, ModuleRunner>();
  private readonly kv = new Map<string, Record<string, string>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private download: Download | null = null;
  private job: Job | null = null;
  private jobDone: Promise<void> = Promise.resolve();
  private next: { bytes: Uint8Array; digest: string } | null = null;
  private retries = new Map<string, number>();
  private lastReport!: Report;
  private lastProgressBytes = -1;
  private lastProgressAt = 0;
  private stopped = false;
  private started = false;

  constructor(options: AgentOptions) {
    super();
    this.id = options.deviceId;
    this.opts = {
      seed: options.deviceId,
      capabilities: [...BASE_CAPABILITIES, 'gpio', 'sensor'].sort(),
      memory: 1024 * 1024,
      chunkSize: 4096,
      window: 6,
      chunkTimeoutMs: 2000,
      chunkTries: 8,
      callBudgetMs: 1000,
      clockOffsetMs: 0,
      reconnectPeriodMs: 1000,
      retryDelayMs: 5000,
      ...options,
    };
    this.policy = { ...DEFAULT_PROBATION, ...options.probation };
    this.store = new StateDir(options.stateDir);
    this.partial = new PartialFile(this.store.downloadDir);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Boot: restore the state, resume a trial or run the committed modules, then connect. */
  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    this.state = this.store.loadState();
    this.lastReport = this.makeReport(this.state.last?.state ?? (this.state.committedSequence > 0 ? 'committed' : 'idle'), {
      reason: this.state.last?.reason,
    });
    const trial = this.state.trial;
    if (trial) await this.bootWithTrial(trial);
    else await this.startCommittedRunners();
    this.lastReport = { ...this.lastReport, running: this.running() };
    this.connect();
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
    this.job?.abort.abort();
    this.download?.abort();
    // Modules first: a probation waiting on its next tick ends at once, then the job unwinds.
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    await this.jobDone.catch(() => {});
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.runners.clear();
    this.flushKv();
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(true).catch(() => {});
  }

  status(): AgentStatus {
    const r = this.lastReport;
    return {
      state: r.state,
      reason: r.reason,
      sequence: r.sequence,
      targetSequence: r.targetSequence,
      running: r.running.map((c) => ({ component: c.component, version: c.version })),
      connected: this.client?.connected ?? false,
    };
  }

  /** Fault injection: drop the TCP connection as a flaky link would (the client reconnects). */
  dropConnection(): void {
    this.client?.stream?.destroy();
  }

  get downloading(): boolean {
    return this.job?.stage === 'downloading';
  }

  // ---------------------------------------------------------------- MQTT

  private connect(): void {
    const will = { topic: deviceTopic(this.id, 'online'), payload: Buffer.from(encodeOnline(false)), qos: 1 as const, retain: true };
    const client = mqtt.connect(this.opts.mqttUrl, {
      clientId: this.id,
      username: this.opts.username ?? this.id,
      password: this.opts.password,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.opts.reconnectPeriodMs,
      resubscribe: false, // subscribed on every connect below
      queueQoSZero: false, // chunk requests sent while offline would only be stale
      will,
    });
    this.client = client;
    client.on('connect', () => void this.onConnected(client));
    client.on('close', () => this.download?.pause());
    client.on('error', () => {}); // bad credentials etc.: mqtt.js keeps reconnecting
    client.on('message', (topic, payload) => this.onMessage(topic, new Uint8Array(payload)));
  }

  /** Every (re)connect: subscribe, announce hello + online, re-publish the last report, resume. */
  private async onConnected(client: MqttClient): Promise<void> {
    try {
      await client.subscribeAsync({ [deviceTopic(this.id, 'chunk')]: { qos: 0 }, [deviceTopic(this.id, 'directive')]: { qos: 1 } });
      const hello = encodeHello({
        host: this.opts.engine.name,
        abi: ABI_VERSION,
        capabilities: this.opts.capabilities,
        maxChunk: this.opts.chunkSize,
        memory: this.opts.memory,
        agent: AGENT_VERSION,
        running: this.running(),
      });
      await client.publishAsync(deviceTopic(this.id, 'hello'), Buffer.from(hello), { qos: 1, retain: true });
      await client.publishAsync(deviceTopic(this.id, 'online'), Buffer.from(encodeOnline(true)), { qos: 1, retain: true });
      // A broker that restarted has lost the retained report: publish it again.
      await client.publishAsync(deviceTopic(this.id, 'report'), Buffer.from(encodeReport(this.lastReport)), { qos: 1, retain: true });
      if (client === this.client && client.connected) this.download?.resume();
    } catch {
      // The connection dropped while announcing; the next connect repeats all of it.
    }
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    if (this.stopped) return;
    if (topic === deviceTopic(this.id, 'directive')) {
      if (payload.length > 0) this.onDirective(payload);
    } else if (topic === deviceTopic(this.id, 'chunk')) {
      this.onChunk(payload);
    }
  }

  private onChunk(payload: Uint8Array): void {
    let resp: ChunkResponse | null;
    try {
      // Decoded up to the protocol's largest chunk: the download itself refuses a wrong length.
      resp = decodeChunkResponse(payload, CHUNK_SIZE_MAX);
    } catch {
      return; // not attributable to a chunk: the request times out and is asked again
    }
    if (this.opts.faults?.chunk) resp = this.opts.faults.chunk(resp);
    if (!resp) return;
    const delay = this.opts.faults?.chunkDelayMs?.() ?? 0;
    const deliver = (r: ChunkResponse) => this.download?.accept(r);
    if (delay > 0) this.later(delay, () => deliver(resp));
    else deliver(resp);
  }

  private publish(kind: 'report' | 'telemetry' | 'chunk/get', bytes: Uint8Array, qos: 0 | 1, retain = false): void {
    const c = this.client;
    if (!c || !c.connected) return; // a report is re-published on connect; the rest is moot offline
    c.publish(deviceTopic(this.id, kind), Buffer.from(bytes), { qos, retain }, () => {});
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  // ---------------------------------------------------------------- reports

  private nowSec(): number {
    return Math.floor((Date.now() + this.opts.clockOffsetMs) / 1000);
  }

  private running(): RunningComponent[] {
    return [...this.runners.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([component, r]) => ({ component, version: r.slot.version, manifestDigest: fromHex(r.slot.manifestDigest) }));
  }

  private makeReport(
    state: ReportState,
    extra: { reason?: string; detail?: string; targetSequence?: number; progress?: { bytes: number; total: number } } = {},
  ): Report {
    const r: Report = { state, sequence: this.state.committedSequence, running: this.running(), time: this.nowSec() };
    if (extra.reason) r.reason = extra.reason;
    if (extra.detail) r.detail = extra.detail;
    if (extra.targetSequence !== undefined) r.targetSequence = extra.targetSequence;
    if (extra.progress) r.progress = extra.progress;
    return r;
  }

  private report(state: ReportState, extra: Parameters<DeviceAgent['makeReport']>[1] = {}): void {
    if (this.stopped) return;
    this.lastReport = this.makeReport(state, extra);
    this.publish('report', encodeReport(this.lastReport), 1, true);
    this.emit('report', this.lastReport);
  }

  // ---------------------------------------------------------------- modules

  private kvFor(component: string): Record<string, string> {
    let kv = this.kv.get(component);
    if (!kv) {
      kv = this.store.loadKv(component);
      this.kv.set(component, kv);
    }
    return kv;
  }

  private readonly dirtyKv = new Set<string>();
  private kvTimer: NodeJS.Timeout | null = null;

  private flushKv(): void {
    if (this.kvTimer) clearTimeout(this.kvTimer);
    this.kvTimer = null;
    for (const c of this.dirtyKv) this.store.saveKv(c, this.kvFor(c));
    this.dirtyKv.clear();
  }

  private onEffects(component: string, effects: HostEffect[]): void {
    for (const e of effects) {
      if (e.kind === 'kv') {
        this.kvFor(component)[e.key] = e.value;
        this.dirtyKv.add(component);
      } else if (e.kind === 'telemetry') {
        const t: Telemetry = { name: e.name, value: e.value, time: this.nowSec() };
        this.publish('telemetry', encodeTelemetry(t), 0);
        this.emit('telemetry', t);
      } else {
        this.emit('log', `${component}: ${e.text}`);
      }
    }
    // kv writes are batched: one atomic file write per component per 100 ms at most.
    if (this.dirtyKv.size > 0 && !this.kvTimer && !this.stopped) {
      this.kvTimer = setTimeout(() => this.flushKv(), 100);
    }
  }

  private makeRunner(component: string, slot: SlotName): ModuleRunner {
    const info = this.state.components[component][slot]!;
    const env: HostEnv = {
      seed: this.opts.seed,
      capabilities: this.opts.capabilities,
      config: info.config,
      kv: this.kvFor(component),
      clockOffsetMs: this.opts.clockOffsetMs,
    };
    return new ModuleRunner({
      engine: this.opts.engine,
      component,
      image: this.store.readSlot(component, slot),
      slot: info,
      env,
      budgetMs: this.opts.callBudgetMs,
      onEffects: (effects) => this.onEffects(component, effects),
      onFault: (f) => this.emit('log', `${component}: fault after commit: ${f.code} ${f.detail} (restarting it)`),
    });
  }

  /** Start a committed slot and let it tick; a fault here is the watchdog's business, not a rollback. */
  private async startCommitted(component: string): Promise<void> {
    const slot = this.state.components[component]?.active;
    if (!slot) return;
    const runner = this.makeRunner(component, slot);
    this.runners.set(component, runner);
    const fault = await runner.start();
    if (fault) this.emit('log', `${component}: committed module failed to start: ${fault.code} ${fault.detail}`);
    runner.runFree();
  }

  private async startCommittedRunners(): Promise<void> {
    for (const component of Object.keys(this.state.components)) await this.startCommitted(component);
  }

  private async stopRunner(component: string): Promise<void> {
    const r = this.runners.get(component);
    this.runners.delete(component);
    await r?.stop();
  }

  // ---------------------------------------------------------------- directives

  private context(): DeviceContext {
    const running = new Map<string, { version: string; manifestDigest: Uint8Array }>();
    for (const [component, slots] of Object.entries(this.state.components)) {
      const info = slots.active ? slots[slots.active] : undefined;
      if (info) running.set(component, { version: info.version, manifestDigest: fromHex(info.manifestDigest) });
    }
    return {
      deviceId: this.id,
      rootPublicKey: this.opts.rootPublicKey,
      now: this.nowSec(),
      capabilities: this.opts.capabilities,
      memory: this.opts.memory,
      committedSequence: this.state.committedSequence,
      keydocSerial: this.state.keydocSerial,
      running,
    };
  }

  /** A directive bundle arrived (retained, so also on every reconnect) or was pending on disk. */
  private onDirective(bytes: Uint8Array): void {
    let digest: string;
    try {
      digest = toHex(sha256(decodeBundle(bytes).directive));
    } catch (err) {
      return this.refuse(asWfError(err, 'CBOR_MALFORMED'), null);
    }
    // The same directive again: what is committed, what is in progress, or a final outcome.
    if (digest === this.state.committedDirective) return;
    if (this.job?.digest === digest || this.next?.digest === digest) return;
    const last = this.state.last;
    if (last && last.directiveDigest === digest && !(last.state === 'failed' && TRANSIENT.has(last.reason ?? ''))) return;

    let checked: CheckedBundle;
    try {
      checked = checkBundle(bytes, this.context());
    } catch (err) {
      return this.refuse(asWfError(err), digest);
    }
    if (this.job) {
      if (checked.directive.sequence <= this.job.sequence) return this.refuse(new WfError('DIRECTIVE_REPLAY', `sequence ${checked.directive.sequence} <= ${this.job.sequence} in progress`), digest);
      // A newer directive: abandon a download in progress and follow it (probation runs to its verdict first).
      this.next = { bytes, digest };
      if (this.job.stage === 'assigned' || this.job.stage === 'downloading') this.job.abort.abort();
      return;
    }
    this.startJob({ bytes, digest, checked, sequence: checked.directive.sequence, stage: 'assigned', abort: new AbortController() });
  }

  /** Checks 1-4 failed: report the reason, keep running what runs, remember not to retry it. */
  private refuse(err: WfError, digest: string | null): void {
    this.emit('log', `directive refused: ${err.code}: ${err.message}`);
    if (digest && !this.stopped) {
      this.state.last = { sequence: 0, directiveDigest: digest, state: 'failed', reason: err.code, detail: err.message };
      this.store.saveState(this.state);
    }
    this.report('failed', { reason: err.code, detail: err.message });
  }

  private startJob(job: Job): void {
    this.job = job;
    this.jobDone = this.runJob(job)
      .catch((err) => {
        this.emit('log', `job crashed: ${(err as Error).stack}`);
      })
      .finally(() => {
        if (this.job === job) this.job = null;
        const next = this.next;
        this.next = null;
        if (next && !this.stopped) this.onDirective(next.bytes);
      });
  }

  private checkLive(job: Job): void {
    if (this.stopped || job.abort.signal.aborted) throw new Stopped();
  }

  /** The update flow, step by step. */
  private async runJob(job: Job): Promise<void> {
    try {
      this.stepAssigned(job);
      const staged: Staged[] = [];
      for (const release of job.checked.releases.filter((r) => !r.alreadyRunning)) {
        staged.push(await this.stepDownload(job, release));
      }
      this.checkLive(job);
      if (staged.length === 0) return this.stepCommit(job, {});
      const trial = this.stepInstall(job, staged);
      await this.stepProbationAndVerdict(job, trial);
    } catch (err) {
      if (err instanceof Stopped || err instanceof DownloadAborted || this.stopped) return;
      this.stepFailed(job, asWfError(err));
    }
  }

  /** assigned: keep the bundle on disk so a restart carries on with it. */
  private stepAssigned(job: Job): void {
    this.store.savePending(job.bytes);
    this.report('assigned', { targetSequence: job.sequence });
  }

  /** downloading + verifying: the image lands in the spare slot, checked against the signed manifest. */
  private async stepDownload(job: Job, release: CheckedRelease): Promise<Staged> {
    const { component, manifest } = release;
    const comp = (this.state.components[component] ??= { active: null });
    const slot = spareOf(comp.active);
    const image = manifest.image;
    const info: SlotInfo = {
      version: manifest.version,
      manifestDigest: toHex(release.manifestDigest),
      sha256: toHex(image.sha256),
      size: image.size,
      tickMs: manifest.tickMs,
      maxPages: manifest.memory.maxPages,
      exports: manifest.exports,
      config: release.config,
    };
    const reusable = comp[slot]?.sha256 === info.sha256; // e.g. a rollback to the previous version
    if (!reusable) {
      job.stage = 'downloading';
      this.lastProgressBytes = -1;
      await this.fetchImage(job, image);
      this.checkLive(job);
      // The spare slot's old image is overwritten: first stop pointing at it.
      if (comp[slot]) {
        delete comp[slot];
        this.store.saveState(this.state);
      }
      this.store.installSlot(component, slot, this.partial.partPath);
      this.partial.forgetMeta();
    }
    this.report('verifying', { targetSequence: job.sequence });
    const bytes = this.store.readSlot(component, slot);
    if (toHex(sha256(bytes)) !== info.sha256) throw new WfError('IMAGE_DIGEST_MISMATCH', `slot ${slot} of ${component}`);
    // Step 6: the module's own imports, not only what the manifest claims, must be granted.
    const abi = checkAbi(inspectWasm(bytes));
    const missing = abi.capabilities.filter((c) => !this.opts.capabilities.includes(c));
    if (missing.length > 0) throw new WfError('CAPABILITY_NOT_GRANTED', `module imports ${missing.join(', ')}`);
    return { release, slot, info };
  }

  private async fetchImage(job: Job, image: { sha256: Uint8Array; size: number }): Promise<void> {
    const total = image.size;
    for (let attempt = 1; ; attempt++) {
      const download = new Download(image, this.partial, {
        chunkSize: this.opts.chunkSize,
        window: this.opts.window,
        chunkTimeoutMs: this.opts.chunkTimeoutMs,
        maxTries: this.opts.chunkTries,
        maxBadTries: 3,
        send: (req) => this.publish('chunk/get', encodeChunkRequest(req), 0),
        onProgress: (bytes) => {
          this.emit('progress', { targetSequence: job.sequence, bytes, total });
          // Progress reports at the start, the end, and at most once a second in between: enough
          // for a progress bar, not a flood of retained writes on the server for 1000 devices.
          const now = Date.now();
          if (bytes === total || this.lastProgressBytes < 0 || (bytes > this.lastProgressBytes && now - this.lastProgressAt >= 1000)) {
            this.lastProgressBytes = bytes;
            this.lastProgressAt = now;
            this.report('downloading', { targetSequence: job.sequence, progress: { bytes, total } });
          }
        },
      });
      this.download = download;
      const onAbort = () => download.abort();
      job.abort.signal.addEventListener('abort', onAbort);
      try {
        await download.run(this.client?.connected ?? false);
        return;
      } catch (err) {
        // A corrupted image (right lengths, wrong bytes) is fetched once more from scratch.
        if (err instanceof WfError && err.code === 'IMAGE_DIGEST_MISMATCH' && attempt < 2) continue;
        throw err;
      } finally {
        job.abort.signal.removeEventListener('abort', onAbort);
        if (this.download === download) this.download = null;
      }
    }
  }

  /** installing: record the new slots and the trial atomically, before anything runs. */
  private stepInstall(job: Job, staged: Staged[]): Trial {
    job.stage = 'installing';
    const trial: Trial = { sequence: job.sequence, directiveDigest: job.digest, slots: {}, boots: 1 };
    for (const s of staged) {
      this.state.components[s.release.component][s.slot] = s.info;
      trial.slots[s.release.component] = s.slot;
    }
    this.state.trial = trial;
    this.state.keydocSerial = Math.max(this.state.keydocSerial, job.checked.keyDocument.serial);
    this.store.saveState(this.state);
    this.report('installing', { targetSequence: job.sequence });
    return trial;
  }

  /** probation, then commit or revert (also the resumption of a trial after a restart). */
  private async stepProbationAndVerdict(job: Job, trial: Trial): Promise<void> {
    job.stage = 'probation';
    this.report('probation', { targetSequence: trial.sequence });
    const fault = await this.probation(trial);
    this.checkLive(job);
    if (fault) await this.stepRevert(trial, fault.code, fault.detail);
    else this.stepCommit(job, trial.slots);
  }

  /** Swap in the trial slots and watch them for the probation window; the first fault wins. */
  private async probation(trial: Trial): Promise<Fault | null> {
    const runners: ModuleRunner[] = [];
    for (const [component, slot] of Object.entries(trial.slots)) {
      await this.stopRunner(component);
      const runner = this.makeRunner(component, slot);
      this.runners.set(component, runner);
      runners.push(runner);
    }
    const watch = async (runner: ModuleRunner): Promise<Fault | null> => {
      const fault = await runner.start();
      if (fault) return fault;
      for (let i = 0; i < this.policy.ticks; i++) {
        await runner.waitTick();
        if (runner.isStopped) return null;
        const f = await runner.tickOnce();
        if (f) return f;
      }
      return null;
    };
    const faults = await Promise.all(runners.map(watch));
    return faults.find((f) => f !== null) ?? null;
  }

  /** committed: the sequence and the slot flip in one atomic write; only then is it reported. */
  private stepCommit(job: Job | { sequence: number; digest: string; checked?: CheckedBundle }, slots: Record<string, SlotName>): void {
    if (this.stopped) return;
    for (const [component, slot] of Object.entries(slots)) this.state.components[component].active = slot;
    this.state.committedSequence = job.sequence;
    this.state.committedDirective = job.digest;
    if (job.checked) this.state.keydocSerial = Math.max(this.state.keydocSerial, job.checked.keyDocument.serial);
    this.state.last = { sequence: job.sequence, directiveDigest: job.digest, state: 'committed' };
    delete this.state.trial;
    this.store.saveState(this.state);
    this.store.clearPending();
    this.retries.delete(job.digest);
    for (const component of Object.keys(slots)) this.runners.get(component)?.runFree();
    this.report('committed');
  }

  /** rolled_back: stop the trial modules, bring back the previous slots, record why. */
  private async stepRevert(trial: Trial, code: ErrorCode, detail: string): Promise<void> {
    if (this.stopped) return;
    for (const component of Object.keys(trial.slots)) await this.stopRunner(component);
    delete this.state.trial;
    this.state.last = { sequence: trial.sequence, directiveDigest: trial.directiveDigest, state: 'rolled_back', reason: code, detail };
    this.store.saveState(this.state);
    this.store.clearPending();
    for (const component of Object.keys(trial.slots)) await this.startCommitted(component);
    this.report('rolled_back', { reason: code, detail, targetSequence: trial.sequence });
  }

  /** failed: nothing was switched; the current modules keep running. Transient causes are retried. */
  private stepFailed(job: Job, err: WfError): void {
    if (this.stopped) return;
    this.state.last = { sequence: job.sequence, directiveDigest: job.digest, state: 'failed', reason: err.code, detail: err.message };
    this.store.saveState(this.state);
    this.report('failed', { reason: err.code, detail: err.message, targetSequence: job.sequence });
    const tries = this.retries.get(job.digest) ?? 0;
    if (TRANSIENT.has(err.code) && tries < MAX_AUTO_RETRIES) {
      this.retries.set(job.digest, tries + 1);
      this.later(this.opts.retryDelayMs * (0.75 + Math.random() / 2), () => {
        if (!this.job && this.state.last?.directiveDigest === job.digest) this.onDirective(job.bytes);
      });
    } else {
      this.store.clearPending();
    }
  }

  /** Boot with a trial on disk: the device stopped during probation. Resume it, or call it a crash loop. */
  private async bootWithTrial(trial: Trial): Promise<void> {
    trial.boots++;
    this.store.saveState(this.state);
    for (const component of Object.keys(this.state.components)) {
      if (!(component in trial.slots)) await this.startCommitted(component);
    }
    const decision = bootDecision(trial.boots, this.policy);
    if (decision.action === 'revert') {
      await this.stepRevert(trial, decision.code, decision.detail);
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
    this.job = job;
    this.jobDone = this.stepProbationAndVerdict(job, trial)
      .catch((err) => {
        if (!(err instanceof Stopped)) this.emit('log', `trial resume failed: ${(err as Error).message}`);
      })
      .finally(() => {
        if (this.job === job) this.job = null;
        const next = this.next;
        this.next = null;
        if (next && !this.stopped) this.onDirective(next.bytes);
      });
  }
}
