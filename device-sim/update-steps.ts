// The update flow of one directive as named steps (docs/device-sim.md): assign → download
// (+ verify) → install → probation → commit | revert, or fail. The state moves only through the
// transition table of protocol/update-table.ts (the C host runs the same table), and every move
// is reported with its reason code. Every state that must survive a restart is in the state
// directory (slots.ts), written atomically before it is reported.
import { sha256, toHex } from '../protocol/crypto.js';
import type { CheckedBundle, CheckedRelease } from '../protocol/device-checks.js';
import { asWfError, WfError, type ErrorCode } from '../protocol/errors.js';
import { encodeReport, type ChunkResponse, type Report } from '../protocol/messages.js';
import type { DeviceState as ReportState } from '../protocol/states.js';
import { transition, type UpdateEvent } from '../protocol/update-table.js';
import { checkAbi, inspectWasm } from '../protocol/wasm-inspect.js';
import { Download, DownloadAborted, type PartialFile } from './download.js';
import type { KvStore } from './kv-store.js';
import type { Runners } from './runners.js';
import { abiOfImage, chunkRequestBytes } from './shared-work.js';
import type { DeviceSession } from './session.js';
import { spareOf, type DeviceState, type SlotInfo, type SlotName, type StateDir, type Trial } from './slots.js';

/** Download failures worth another try when the directive comes again (or after a pause). */
export const TRANSIENT: ReadonlySet<string> = new Set(['CHUNK_TIMEOUT', 'CHUNK_UNKNOWN_BLOB', 'CHUNK_INVALID', 'IMAGE_DIGEST_MISMATCH', 'INTERNAL']);
const MAX_AUTO_RETRIES = 3;

export interface Job {
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

export class Stopped extends Error {}

export interface ReportExtra {
  reason?: string;
  detail?: string;
  targetSequence?: number;
  progress?: { bytes: number; total: number };
}

export interface StepsOptions {
  store: StateDir;
  partial: PartialFile;
  session: DeviceSession;
  runners: Runners;
  kv: KvStore;
  capabilities: string[];
  chunkSize: number;
  window: number;
  chunkTimeoutMs: number;
  chunkTries: number;
  retryDelayMs: number;
  state(): DeviceState;
  nowSec(): number;
  stopped(): boolean;
  emit(event: 'report' | 'progress' | 'log', value: unknown): void;
  later(ms: number, fn: () => void): void;
  /** A failed directive's bytes, handed back for a retry after a pause. */
  retry(bytes: Uint8Array, digest: string): void;
  /** How a report is shown: a stale device shows `stale` instead of a final state (freshness.ts). */
  present(report: Report): Report;
}

export class UpdateSteps {
  lastReport!: Report;
  private download: Download | null = null;
  private readonly retries = new Map<string, number>();
  private lastProgressBytes = -1;
  private lastProgressAt = 0;

  constructor(private readonly o: StepsOptions) {}

  private get state(): DeviceState {
    return this.o.state();
  }

  // ---------------------------------------------------------------- reports and moves

  /** The report at boot: how the last directive ended (or committed/idle). */
  restore(): void {
    const last = this.state.last;
    const at: ReportState = last?.state ?? (this.state.committedSequence > 0 ? 'committed' : 'idle');
    this.lastReport = this.makeReport(at, { reason: last?.reason });
  }

  /** A trial found on disk at boot resumes in probation. */
  resumeAt(state: ReportState, targetSequence: number): void {
    this.lastReport = this.makeReport(state, { targetSequence });
  }

  refreshRunning(): void {
    this.lastReport = { ...this.lastReport, running: this.o.runners.running() };
  }

  get current(): ReportState {
    return this.lastReport.state;
  }

  /** The report as published: the update state, unless the device is stale. */
  get shown(): Report {
    return this.o.present(this.lastReport);
  }

  /** Publish the report again as it is shown now (freshness changed). */
  republish(): void {
    if (this.o.stopped()) return;
    const r = this.shown;
    this.o.session.publish('report', encodeReport(r), 1, true);
    this.o.emit('report', r);
  }

  private makeReport(state: ReportState, extra: ReportExtra = {}): Report {
    const r: Report = { state, sequence: this.state.committedSequence, running: this.o.runners.running(), time: this.o.nowSec() };
    if (extra.reason) r.reason = extra.reason;
    if (extra.detail) r.detail = extra.detail;
    if (extra.targetSequence !== undefined) r.targetSequence = extra.targetSequence;
    if (extra.progress) r.progress = extra.progress;
    return r;
  }

  /** Move the state by the table and report it; an event the table does not allow is ignored (false). */
  move(event: UpdateEvent, extra: ReportExtra = {}): boolean {
    const t = transition(this.current, event);
    if (!t) {
      this.o.emit('log', `event ${event} ignored in state ${this.current}`);
      return false;
    }
    if (this.o.stopped()) return true;
    const { reason, detail, ...rest } = extra;
    this.lastReport = this.makeReport(t.next, t.reason ? { ...rest, reason, detail } : rest);
    this.republish();
    return true;
  }

  acceptChunk(resp: ChunkResponse): void {
    this.download?.accept(resp);
  }

  pauseDownload(): void {
    this.download?.pause();
  }

  resumeDownload(): void {
    this.download?.resume();
  }

  abortDownload(): void {
    this.download?.abort();
  }

  private checkLive(job: Job): void {
    if (this.o.stopped() || job.abort.signal.aborted) throw new Stopped();
  }

  // ---------------------------------------------------------------- the flow

  /** The update flow of one directive, step by step. */
  async run(job: Job): Promise<void> {
    try {
      this.assign(job);
      const installs = job.checked.releases.filter((r) => !r.alreadyRunning || this.configChanged(r));
      if (installs.length === 0) return this.recordSequence(job);
      const staged: Staged[] = [];
      for (const release of installs) staged.push(await this.fetchAndVerify(job, release));
      this.checkLive(job);
      const trial = this.install(job, staged);
      await this.probationAndVerdict(job, trial);
    } catch (err) {
      if (err instanceof Stopped || err instanceof DownloadAborted || this.o.stopped()) return;
      this.fail(job, asWfError(err));
    }
  }

  /** The release runs already, but with another config: a config change is an update (run under probation). */
  private configChanged(release: CheckedRelease): boolean {
    const comp = this.state.components[release.component];
    const active = comp?.active ? comp[comp.active] : undefined;
    return active !== undefined && JSON.stringify(sortedEntries(active.config)) !== JSON.stringify(sortedEntries(release.config));
  }

  /** assign: keep the bundle on disk so a restart carries on with it. */
  private assign(job: Job): void {
    this.o.store.savePending(job.bytes);
    this.move('bundle_ok', { targetSequence: job.sequence });
  }

  /** record_sequence: the directive names exactly what runs; only the sequence moves. */
  private recordSequence(job: Job): void {
    this.finishCommit(job, {});
    this.move('up_to_date');
  }

  /** download + verify: the image lands in the spare slot, checked against the signed manifest. */
  private async fetchAndVerify(job: Job, release: CheckedRelease): Promise<Staged> {
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
    this.move('start', { targetSequence: job.sequence });
    const active = comp.active ? comp[comp.active] : undefined;
    if (comp[slot]?.sha256 !== info.sha256) {
      // The spare slot's old image is overwritten: first stop pointing at it.
      const forget = () => {
        if (!comp[slot]) return;
        delete comp[slot];
        this.o.store.saveState(this.state);
      };
      if (release.alreadyRunning && active?.sha256 === info.sha256 && comp.active) {
        // The running image with a new config: copied locally, nothing to fetch.
        forget();
        this.o.store.copySlot(component, comp.active, slot);
      } else {
        job.stage = 'downloading';
        this.lastProgressBytes = -1;
        await this.fetchImage(job, image);
        this.checkLive(job);
        forget();
        this.o.store.installSlot(component, slot, this.o.partial.partPath);
        this.o.partial.forgetMeta();
      }
    } // else the spare slot holds it already, e.g. a rollback to the previous version
    this.move('complete', { targetSequence: job.sequence });
    const bytes = this.o.store.readSlot(component, slot);
    const digest = toHex(sha256(bytes));
    if (digest !== info.sha256) throw new WfError('IMAGE_DIGEST_MISMATCH', `slot ${slot} of ${component}`);
    checkModuleImports(bytes, this.o.capabilities, digest);
    return { release, slot, info };
  }

  private async fetchImage(job: Job, image: { sha256: Uint8Array; size: number }): Promise<void> {
    const total = image.size;
    for (let attempt = 1; ; attempt++) {
      const download = new Download(image, this.o.partial, {
        chunkSize: this.o.chunkSize,
        window: this.o.window,
        chunkTimeoutMs: this.o.chunkTimeoutMs,
        maxTries: this.o.chunkTries,
        maxBadTries: 3,
        send: (req) => this.o.session.publish('chunk/get', chunkRequestBytes(req), 0),
        onProgress: (bytes) => {
          this.o.emit('progress', { targetSequence: job.sequence, bytes, total });
          // Progress reports at the start, the end, and at most once a second in between: enough
          // for a progress bar, not a flood of retained writes on the server for 1000 devices.
          const now = Date.now();
          if (bytes === total || this.lastProgressBytes < 0 || (bytes > this.lastProgressBytes && now - this.lastProgressAt >= 1000)) {
            this.lastProgressBytes = bytes;
            this.lastProgressAt = now;
            this.move('chunk', { targetSequence: job.sequence, progress: { bytes, total } });
          }
        },
      });
      this.download = download;
      const onAbort = () => download.abort();
      job.abort.signal.addEventListener('abort', onAbort);
      try {
        await download.run(this.o.session.connected);
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

  /** install: record the new slots and the trial atomically, before anything runs. */
  private install(job: Job, staged: Staged[]): Trial {
    job.stage = 'installing';
    const trial: Trial = { sequence: job.sequence, directiveDigest: job.digest, slots: {}, boots: 1 };
    for (const s of staged) {
      this.state.components[s.release.component][s.slot] = s.info;
      trial.slots[s.release.component] = s.slot;
    }
    this.state.trial = trial;
    raiseTrust(this.state, job.checked);
    this.o.store.saveState(this.state);
    this.move('digest_ok', { targetSequence: job.sequence });
    return trial;
  }

  /** probation, then commit or revert (also the resumption of a trial after a restart). */
  async probationAndVerdict(job: Job, trial: Trial): Promise<void> {
    job.stage = 'probation';
    this.move('loaded', { targetSequence: trial.sequence });
    const fault = await this.o.runners.probation(trial.sequence, trial.slots);
    this.checkLive(job);
    if (fault) await this.revert(trial, fault.code, fault.detail);
    else this.commit(job, trial.slots);
  }

  /** The committed state in one atomic write: the sequence, the active slots, the outcome. */
  private finishCommit(job: Job, slots: Record<string, SlotName>): void {
    for (const [component, slot] of Object.entries(slots)) this.state.components[component].active = slot;
    this.state.committedSequence = job.sequence;
    this.state.committedDirective = job.digest;
    if (job.checked) raiseTrust(this.state, job.checked);
    this.state.last = { sequence: job.sequence, directiveDigest: job.digest, state: 'committed' };
    delete this.state.trial;
    this.o.store.saveState(this.state);
    this.o.store.clearPending();
    for (const component of Object.keys(slots)) this.o.kv.commitTrial(component);
    this.retries.delete(job.digest);
  }

  /** commit: the sequence and the slot flip in one atomic write; only then is it reported. */
  private commit(job: Job, slots: Record<string, SlotName>): void {
    if (this.o.stopped()) return;
    this.finishCommit(job, slots);
    this.o.runners.runFree(Object.keys(slots));
    this.move('passed');
  }

  /** revert: stop the trial modules, bring back the previous slots and their kv, record why. */
  async revert(trial: Trial, code: ErrorCode, detail: string): Promise<void> {
    if (this.o.stopped()) return;
    for (const component of Object.keys(trial.slots)) await this.o.runners.stop(component);
    for (const component of Object.keys(trial.slots)) this.o.kv.revertTrial(component);
    delete this.state.trial;
    this.state.last = { sequence: trial.sequence, directiveDigest: trial.directiveDigest, state: 'rolled_back', reason: code, detail };
    this.o.store.saveState(this.state);
    this.o.store.clearPending();
    for (const component of Object.keys(trial.slots)) await this.o.runners.startCommitted(component);
    this.move('failed', { reason: code, detail, targetSequence: trial.sequence });
  }

  /** fail: nothing was switched; the current modules keep running. Transient causes are retried. */
  private fail(job: Job, err: WfError): void {
    if (this.o.stopped()) return;
    this.state.last = { sequence: job.sequence, directiveDigest: job.digest, state: 'failed', reason: err.code, detail: err.message };
    this.o.store.saveState(this.state);
    this.move('reject', { reason: err.code, detail: err.message, targetSequence: job.sequence });
    const tries = this.retries.get(job.digest) ?? 0;
    if (TRANSIENT.has(err.code) && tries < MAX_AUTO_RETRIES) {
      this.retries.set(job.digest, tries + 1);
      this.o.later(this.o.retryDelayMs * (0.75 + Math.random() / 2), () => this.o.retry(job.bytes, job.digest));
    } else {
      this.o.store.clearPending();
    }
  }

  /** refuse: checks 1-4 failed; nothing was touched. Remember the digest so it is not tried again. */
  refuse(err: WfError, digest: string | null): void {
    this.o.emit('log', `directive refused: ${err.code}: ${err.message}`);
    if (digest && !this.o.stopped()) {
      this.state.last = { sequence: 0, directiveDigest: digest, state: 'failed', reason: err.code, detail: err.message };
      this.o.store.saveState(this.state);
    }
    this.move('reject', { reason: err.code, detail: err.message });
  }
}

/**
 * Step 6: the module's own imports, not only what the manifest claims, fit ABI v1 and are granted.
 * `sha256Hex`, when given, must be the SHA-256 of `bytes` as just computed (the slot's digest
 * check): the ABI check of those bytes is then shared with other devices (shared-work.ts).
 */
export function checkModuleImports(bytes: Uint8Array, capabilities: readonly string[], sha256Hex?: string): void {
  const abi = sha256Hex === undefined ? checkAbi(inspectWasm(bytes)) : abiOfImage(bytes, sha256Hex);
  const missing = abi.capabilities.filter((c) => !capabilities.includes(c));
  if (missing.length > 0) throw new WfError('CAPABILITY_NOT_GRANTED', `module imports ${missing.join(', ')}`);
}

function sortedEntries(config: Record<string, string>): [string, string][] {
  return Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A bundle acted on, or a valid freshness message, raises the trust floors: key document serial
 *  and root (protocol.md §3.5, §3.6). True when something changed (the caller saves the state). */
export function raiseTrust(state: DeviceState, checked: Pick<CheckedBundle, 'keyDocument' | 'root'>): boolean {
  let changed = false;
  if (checked.keyDocument.serial > state.keydocSerial) {
    state.keydocSerial = checked.keyDocument.serial;
    changed = true;
  }
  if (checked.root && checked.root.version > (state.root?.version ?? 1)) {
    state.root = { version: checked.root.version, publicKey: toHex(checked.root.publicKey) };
    changed = true;
  }
  return changed;
}
