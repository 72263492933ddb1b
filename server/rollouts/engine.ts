// The rollout engine: a reconciler driven by device events and a clock (docs/rollouts.md).
// Each tick does work in proportion to what changed: the devices named by events since the last
// tick (dirty set), the members whose deadline passed (indexed), and the rollouts that were
// touched or whose timer (soak end, rate slot) is due. Every decision is one store transaction;
// assigning a device and storing its directive are the same transaction, publishing comes after,
// and what a device is owed is re-published whenever its reports show it does not have it.
// One thing at a time: ticks and operator actions run one after the other (`exclusive`), never
// interleaved at their awaits, so each sees the store and the live rollouts as the last one left them.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { openRollback, checkRollbackCovers } from '../../protocol/payloads/rollback.js';
import { deviceTopic } from '../../protocol/topics.js';
import { audit, type Actor, type AuditMeta } from '../store/db.js';
import type { DeviceFacts, DeviceRepo, DeviceView } from '../store/devices.js';
import type { DirectiveRecord, DirectiveRepo } from '../store/directives.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { MemberRow, NewMember, RolloutRepo, RolloutRow } from '../store/rollouts.js';
import { inTx, type Sql, type SqlRunner } from '../store/sql.js';
import { checkStillSigned, issueDirectives, publishDirectives, type IssueDeps } from '../services/issue.js';
import type { Trust } from '../trust.js';
import {
  DEFAULT_POLICY,
  failureTripped,
  FINAL_ROLLOUT_STATES,
  matchesSelector,
  preflight,
  rateAdmit,
  rateReadyAt,
  successMet,
  validatePolicy,
  waveCap,
  waveRate,
  type Counts,
  type MemberState,
  type Policy,
  type ReleaseNeeds,
  type Selector,
} from './model.js';
import { addedCapabilities, planRollout, releaseNeeds, type RolloutPlan } from './plan.js';

export interface EngineDeps extends IssueDeps {
  sql: Sql;
  devices: DeviceRepo;
  modules: ModuleRepo;
  directives: DirectiveRepo;
  rollouts: RolloutRepo;
  trust: () => Trust;
  log: Logger;
  /** Milliseconds since the epoch; tests may pass a fake clock. */
  clock?: () => number;
  /**
   * Several instances (docs/scale-out.md): an operator action changed this rollout here; the
   * leading instance's engine must re-read it (server/cluster/cluster.ts sends it on the change feed).
   */
  announce?(rolloutId: string): void;
  /** Several instances: a device event while this engine does not run goes to the one that does. */
  forward?(deviceId: string, why: DeviceEvent): void;
}

export type DeviceEvent = 'report' | 'hello' | 'online' | 'tags' | 'new';

export interface CreateRequest {
  module: string;
  version: string;
  selector: Selector;
  policy: Partial<Policy> & Pick<Policy, 'waves'>;
  /** Release-signed rollback authorizations (COSE bytes) for the releases the targets run. */
  authorizations: Uint8Array[];
  /** Seconds since the epoch; the rollout stops taking devices after it. */
  expires: number;
  kind?: 'rollout' | 'deploy';
  actor?: Actor | null;
}

export interface DeployRequest {
  kind: 'deploy' | 'rollback';
  module: ModuleView;
  manifest: Uint8Array;
  selector: Selector;
  targets: string[];
  config?: Record<string, string>;
  rollback?: Uint8Array;
  actor?: Actor | null;
}

export interface TickStats {
  devices: number;
  deadlines: number;
  rollouts: number;
  published: number;
}

/** How many rows one tick takes from each source, so a burst is spread over ticks. */
const BATCH = 500;

/** A member's outcome decided while looking at a tick's devices: rollout, member, state, reason, detail. */
type Settlement = [RolloutRow, MemberRow, MemberState, string | null, string | null];
/** Starts per rollout per tick: each signs a directive (Ed25519), and the event loop must keep serving devices. */
const STARTS_PER_TICK = 200;
const MS = 1000;

export class RolloutEngine {
  private readonly clock: () => number;
  private readonly dirtyDevices = new Map<string, DeviceEvent>();
  private readonly dirtyRollouts = new Set<string>();
  /** Live rollouts, cached: a handful, re-read from the store after every change. */
  private readonly live = new Map<string, RolloutRow>();
  private readonly needs = new Map<string, { need: ReleaseNeeds; module: ModuleView; manifest: Uint8Array }>();
  /** Rollout → when its next timed step (soak end, rate slot) is due. */
  private readonly wakeAt = new Map<string, number>();
  private nextOwedCheck = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The tick or operator action under way; the next one starts when it has settled. */
  private running: Promise<unknown> = Promise.resolve();
  private ticking = false;
  /** Stopped at least once: a follower, or a leader that lost the lead (see start()). */
  private stopped = false;
  /** Who wants to know which rollouts a tick looked at (the console's live streams). */
  private readonly changeListeners = new Set<(ids: string[]) => void>();

  private constructor(
    private readonly deps: EngineDeps,
    private readonly opts: { tickMs?: number; owedCheckMs?: number } = {},
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  /** The engine, with every live rollout picked up where the store left it. */
  static async open(deps: EngineDeps, opts: { tickMs?: number; owedCheckMs?: number } = {}): Promise<RolloutEngine> {
    const engine = new RolloutEngine(deps, opts);
    await engine.recover();
    return engine;
  }

  /** Everything from the store, as after a restart: the live rollouts and every device in flight. */
  private async recover(): Promise<void> {
    const live = await this.deps.rollouts.live();
    this.live.clear();
    this.dirtyDevices.clear();
    this.dirtyRollouts.clear();
    this.wakeAt.clear();
    this.nextOwedCheck = 0; // the first tick re-sends what online devices are owed (a leader may have died before publishing)
    for (const r of live) {
      this.live.set(r.id, r);
      this.dirtyRollouts.add(r.id);
      // After a restart, look again at every device in flight: reports may have come while we were down.
      for (const m of [...(await this.deps.rollouts.inState(r.id, 'assigned')), ...(await this.deps.rollouts.inState(r.id, 'reverting'))]) this.dirtyDevices.set(m.deviceId, 'report');
    }
  }

  /** Whether the engine's loop runs here (with several instances: this one leads). */
  get active(): boolean {
    return this.timer !== null;
  }

  /**
   * Start the loop. Started again after a stop (this instance took the lead back), it first
   * re-reads the store: another instance led in between.
   */
  start(): void {
    if (this.timer) return;
    // Queued before any tick: the first tick sees what the store says now.
    if (this.stopped) void this.exclusive(() => this.recover()).catch((err: unknown) => this.deps.log.error({ err }, 'rollout engine: reading the store failed'));
    this.timer = setInterval(() => {
      // A tick that outlasts the interval is not joined by another: the next one waits its turn.
      if (this.ticking) return;
      this.ticking = true;
      this.tick()
        .catch((err: unknown) => this.deps.log.error({ err }, 'rollout engine tick failed'))
        .finally(() => (this.ticking = false));
    }, this.opts.tickMs ?? 200);
    this.timer.unref();
  }

  /** Stop ticking; resolves when the tick or action under way has finished. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    this.dirtyDevices.clear(); // whoever leads next re-reads what is in flight
    await this.running.catch(() => undefined);
  }

  /** Run `fn` when everything before it has finished, and before anything after it starts. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.running.then(fn, fn);
    this.running = result.catch(() => undefined);
    return result;
  }

  /**
   * Be told, after each tick, the rollouts it stepped: every change to a rollout or its members
   * marks it for a step, so this is a superset of what changed. Returns the unsubscribe.
   */
  onChange(listener: (ids: string[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Tell the listeners these rollouts changed: after each tick here, or (several instances) when
   * the leader's engine stepped them (server/cluster/cluster.ts), so live views on a follower move too.
   */
  changed(ids: string[]): void {
    for (const listener of this.changeListeners) {
      try {
        listener(ids);
      } catch (err) {
        this.deps.log.error({ err }, 'rollout change listener failed');
      }
    }
  }

  /** A device said something or was changed: look at it on the next tick (here, or where the engine runs). */
  deviceChanged(id: string, why: DeviceEvent): void {
    if (this.stopped && !this.timer && this.deps.forward) {
      this.deps.forward(id, why);
      return;
    }
    const prev = this.dirtyDevices.get(id);
    // hello/online also ask for the owed re-publish check: keep that stronger reason.
    if (prev === 'hello' || prev === 'online') return;
    this.dirtyDevices.set(id, why);
  }

  // ---------------------------------------------------------------- tick

  tick(): Promise<TickStats> {
    return this.exclusive(() => this.tickNow());
  }

  private async tickNow(): Promise<TickStats> {
    const now = this.clock();
    const stats: TickStats = { devices: 0, deadlines: 0, rollouts: 0, published: 0 };
    const toPublish: DirectiveRecord[] = [];

    // 1. devices that changed; the members they settle are written together after the loop
    const batch = [...this.dirtyDevices].slice(0, BATCH);
    const settled: Settlement[] = [];
    for (const [id, why] of batch) {
      this.dirtyDevices.delete(id);
      stats.devices++;
      const device = await this.deps.devices.getForEngine(id);
      if (!device) continue;
      await this.onDevice(device, now, toPublish, settled);
      if (why === 'hello' || why === 'online') stats.published += await this.republishIfOwed(device);
    }
    // One transaction: a thousand devices committing within a tick are one write to the store,
    // not a thousand (each its own commit was 0.6 ms per device in the bench, docs/device-sim.md).
    // If it fails, those devices are looked at again on the next tick.
    if (settled.length > 0) {
      try {
        await this.deps.sql.tx(async (q) => {
          for (const [r, m, state, reason, detail] of settled) await this.settle(q, r, m, state, reason, detail, now);
        });
      } catch (err) {
        for (const [, m] of settled) if (!this.dirtyDevices.has(m.deviceId)) this.dirtyDevices.set(m.deviceId, 'report');
        throw err;
      }
    }

    // 2. deadlines
    for (const m of await this.deps.rollouts.due(now, BATCH)) {
      stats.deadlines++;
      await this.onDeadline(m, now, toPublish);
    }

    // 3. rollouts touched or due
    for (const r of this.live.values()) if (now >= r.expires * MS) this.dirtyRollouts.add(r.id);
    for (const [id, at] of this.wakeAt) {
      if (at <= now) {
        this.wakeAt.delete(id);
        this.dirtyRollouts.add(id);
      }
    }
    const stepped = [...this.dirtyRollouts];
    for (const id of stepped) {
      this.dirtyRollouts.delete(id);
      const r = this.live.get(id);
      if (!r) continue;
      stats.rollouts++;
      try {
        await this.step(r, now, toPublish);
      } catch (err) {
        if (!(err instanceof RolloutChanged)) throw err;
        // Changed elsewhere since we read it: take the stored row and look again next tick.
        await this.reread(id);
      }
    }

    // 4. the slow check for devices online that have not got what they are owed
    if (now >= this.nextOwedCheck) {
      this.nextOwedCheck = now + (this.opts.owedCheckMs ?? 30_000);
      for (const id of await this.deps.directives.undelivered(BATCH)) {
        const d = await this.deps.devices.getForEngine(id);
        if (d) stats.published += await this.republishIfOwed(d);
      }
    }

    publishDirectives(this.deps, toPublish);
    stats.published += toPublish.length;
    // Includes rollouts that just ended (no longer live): their last change is news too.
    if (stepped.length > 0) {
      this.changed(stepped);
    }
    return stats;
  }

  /** Re-send the newest directive when the device's report shows it neither has it nor works on it. */
  private async republishIfOwed(d: DeviceView): Promise<number> {
    const owed = await this.deps.directives.latestBundleOf(d.id);
    if (!owed || d.sequence >= owed.sequence || (d.targetSequence !== null && d.targetSequence >= owed.sequence)) return 0;
    this.deps.publish(deviceTopic(d.id, 'directive'), owed.bundle, { qos: 1, retain: true });
    return 1;
  }

  // ---------------------------------------------------------------- device events

  private async onDevice(d: DeviceView, now: number, out: DirectiveRecord[], settled: Settlement[]): Promise<void> {
    const m = await this.deps.rollouts.activeOf(d.id);
    if (m) {
      const r = this.live.get(m.rolloutId);
      if (r || m.state === 'reverting') await this.followReport(m, d, r ?? (await this.deps.rollouts.require(m.rolloutId)), now, out, settled);
      return;
    }
    // Not in a rollout: does a running one now select it (new, re-tagged, back online, said hello)?
    for (const r of this.live.values()) {
      // Deploys are one-shot: they take the devices named when they were made, no late joiners.
      if (r.kind !== 'rollout' || !matchesSelector(r.selector, d) || now > r.expires * MS) continue;
      if (await this.join(r, d, now)) return;
    }
  }

  /** A device joins a live rollout after the start: same pre-flight, gate and waves as the first ones. */
  private async join(r: RolloutRow, d: DeviceView, now: number): Promise<boolean> {
    const existing = await this.deps.rollouts.member(r.id, d.id);
    if (existing && existing.state !== 'excluded') return false;
    const m = await this.admission(r, d);
    return this.deps.sql.tx(async (q) => {
      const active = m.state !== 'excluded';
      if (existing) {
        // Excluded before (no hello, missing capability, other rollout): look again.
        if (m.state === 'excluded' && existing.reason === m.reason) return false;
        // Still active in another rollout: stays out (the unique index would refuse it).
        if (active && (await this.deps.rollouts.activeOf(d.id, q))) return false;
        await this.deps.rollouts.updateMember({ ...existing, ...m, active, updatedMs: now }, q);
      } else {
        const other = active ? await this.deps.rollouts.activeOf(d.id, q) : undefined;
        if (other) {
          const detail = `device ${d.id} is in rollout ${other.rolloutId}`;
          await this.deps.rollouts.addMember(r.id, { ...m, state: 'excluded', reason: 'ROLLOUT_CONFLICT', detail }, now, false, q);
          return false;
        }
        await this.deps.rollouts.addMember(r.id, m, now, active, q);
      }
      if (active) {
        await this.note(q, r, 'device.joined', { device: d.id, state: m.state, reason: m.reason }, now, m.reason ?? undefined);
        this.dirtyRollouts.add(r.id);
      }
      return active;
    });
  }

  /** Pre-flight, capability gate and rollback coverage of one device: its first member state. */
  private async admission(r: RolloutRow, d: DeviceFacts, q?: SqlRunner): Promise<NewMember> {
    const { need } = await this.release(r, q);
    return admit(r, d, need, await this.fromRelease(r, need, d, q));
  }

  /** What admission needs to know about the release a device runs now (the same for every device that runs it). */
  private async fromRelease(r: RolloutRow, need: ReleaseNeeds, d: DeviceFacts, q?: SqlRunner): Promise<FromRelease> {
    const current = d.running[0];
    return {
      added: await addedCapabilities(this.deps.modules, need, d, q),
      covered: !current || (await this.covered(r, current.manifestDigest, q)),
    };
  }

  private async covered(r: RolloutRow, digest: string, q?: SqlRunner): Promise<boolean> {
    return (await this.deps.rollouts.authorization(r.id, digest, q)) !== undefined;
  }

  /** Map the device's last report onto its membership; an outcome goes to `settled` (written by the tick). */
  private async followReport(m: MemberRow, d: DeviceView, r: RolloutRow, now: number, out: DirectiveRecord[], settled: Settlement[]): Promise<void> {
    const seq = m.sequence;
    if (seq === null || (m.state !== 'assigned' && m.state !== 'reverting' && m.state !== 'committed')) return;
    const want = m.state === 'reverting' ? m.fromDigest : r.manifestDigest;
    const done = d.state === 'committed' && d.sequence >= seq && d.running.some((c) => c.manifestDigest === want);
    // A refusal (checks 1-4) is reported without a target sequence; anything after assignment is ours.
    const refusedOurs = d.state === 'failed' && (d.targetSequence === seq || (d.targetSequence === null && m.state !== 'committed' && (d.sequence < seq)));
    const revertedOurs = d.state === 'rolled_back' && d.targetSequence === seq;
    if (m.state === 'committed') {
      // Committed, then the device reverted the same update (watchdog in a later probation): a failure.
      if (revertedOurs) settled.push([r, m, 'failed', d.reason ?? 'UNKNOWN', d.detail]);
      return;
    }
    if (done) {
      settled.push([r, m, m.state === 'reverting' ? 'rolled_back' : 'committed', null, null]);
    } else if (refusedOurs || revertedOurs) {
      if (m.state === 'assigned' && refusedOurs && m.attempt <= r.policy.retries && this.live.get(r.id)?.state === 'running') {
        await this.deps.sql.tx((q) => this.assign(q, r, m, now, out, `retry after ${d.reason ?? 'failure'}`));
      } else {
        settled.push([r, m, 'failed', d.reason ?? 'UNKNOWN', m.state === 'reverting' ? `rollback: ${d.detail ?? ''}` : d.detail]);
      }
    }
  }

  private async settle(q: SqlRunner, r: RolloutRow, m: MemberRow, state: MemberState, reason: string | null, detail: string | null, now: number): Promise<void> {
    const stillDriven = this.live.has(r.id);
    await this.deps.rollouts.updateMember({ ...m, state, reason, detail, deadlineMs: null, active: stillDriven && m.state !== 'reverting', updatedMs: now }, q);
    this.dirtyRollouts.add(r.id);
  }

  private async onDeadline(m: MemberRow, now: number, out: DirectiveRecord[]): Promise<void> {
    const r = await this.deps.rollouts.require(m.rolloutId);
    if (m.state === 'assigned' && m.attempt <= r.policy.retries && this.live.get(r.id)?.state === 'running') {
      await this.deps.sql.tx((q) => this.assign(q, r, m, now, out, 'retry after DEVICE_TIMEOUT'));
      return;
    }
    await this.deps.sql.tx(async (q) => {
      await this.settle(q, r, m, 'timed_out', 'DEVICE_TIMEOUT', m.state === 'reverting' ? 'no report of the rollback before the deadline' : `no final report within ${r.policy.deadlineSeconds} s`, now);
      await this.note(q, r, 'device.timed_out', { device: m.deviceId, attempt: m.attempt, rollback: m.state === 'reverting' }, now, 'DEVICE_TIMEOUT');
    });
  }

  // ---------------------------------------------------------------- the rollout's own step

  private async step(r: RolloutRow, now: number, out: DirectiveRecord[]): Promise<void> {
    // Past its expiry the rollback authorizations are no longer valid: start nobody else.
    if (now >= r.expires * MS) {
      await this.finish(r, 'aborted', 'EXPIRED', now, 'engine');
      return;
    }
    if (r.state !== 'running') return;
    const counts = await this.counts(r.id);
    if (failureTripped(r.policy, counts)) {
      const why = `${counts.failed} of ${counts.decided} decided devices failed (> ${r.policy.maxFailuresPercent}%, sample ≥ ${r.policy.minSample})`;
      if (r.policy.onFailure === 'rollback') await this.rollBack(r, 'FAILURE_THRESHOLD', why, now, out, 'engine');
      else await this.transition(this.deps.sql, r, { state: 'paused', reason: 'FAILURE_THRESHOLD' }, 'rollout.paused', { why }, now, 'engine');
      return;
    }
    if (r.awaitingApproval) return;

    // Fill the current wave: cumulative cap over the members that can go (pending, started, done).
    const all = await this.deps.rollouts.counts(r.id);
    const eligible = sum(all, ['pending', 'assigned', 'committed', 'failed', 'timed_out', 'reverting', 'rolled_back']);
    const cap = waveCap(r.policy.waves, r.wave, eligible);
    let started = await this.deps.rollouts.started(r.id);
    let row = r;
    if (started < cap) {
      const rate = waveRate(r.policy, r.wave);
      for (const m of await this.deps.rollouts.pending(r.id, Math.min(cap - started, STARTS_PER_TICK))) {
        const tat = rateAdmit(row.rateTatMs, now, rate);
        if (tat === null) {
          this.wakeAt.set(r.id, rateReadyAt(row.rateTatMs, rate!));
          break;
        }
        const next: RolloutRow = { ...row, rateTatMs: tat };
        row = await this.deps.sql.tx(async (q) => {
          const saved = await this.save(q, next, now);
          await this.assign(q, saved, m, now, out, null);
          return saved;
        });
        started++;
      }
      if (started < cap && (await this.deps.rollouts.pending(r.id, 1)).length > 0 && !this.wakeAt.has(r.id)) this.dirtyRollouts.add(r.id);
    }

    // Settled: nothing in flight, and the wave has every device it can get now.
    const waitingForCap = started < cap && (await this.deps.rollouts.pending(r.id, 1)).length > 0;
    const settled = !waitingForCap && (await this.deps.rollouts.counts(r.id)).assigned === undefined;
    if (!settled) {
      if (row.waveSettledMs !== null) await this.save(this.deps.sql, { ...row, waveSettledMs: null }, now);
      return;
    }
    if (row.waveSettledMs === null) {
      const settledRow = { ...row, waveSettledMs: now };
      const wc = await this.waveCounts(settledRow);
      row = await this.deps.sql.tx(async (q) => {
        const saved = await this.save(q, settledRow, now);
        await this.note(q, saved, 'wave.settled', { wave: saved.wave, ...wc }, now);
        return saved;
      });
    }
    const soakEnd = row.waveSettledMs! + row.policy.soakSeconds * MS;
    if (now < soakEnd) {
      this.wakeAt.set(r.id, soakEnd);
      return;
    }
    const wc = await this.waveCounts(row);
    if (!successMet(row.policy, wc)) {
      await this.transition(this.deps.sql, row, { state: 'paused', reason: 'SUCCESS_THRESHOLD' }, 'rollout.paused', { wave: row.wave, ...wc, successPercent: row.policy.successPercent }, now, 'engine');
      return;
    }
    if (row.wave >= row.policy.waves.length - 1) {
      await this.finish(row, 'completed', 'ALL_WAVES_DONE', now, 'engine', { ...counts });
      return;
    }
    if (row.policy.approval) {
      await this.transition(this.deps.sql, row, { awaitingApproval: true, reason: 'WAITING_APPROVAL' }, 'wave.awaiting_approval', { wave: row.wave }, now, 'engine');
      return;
    }
    await this.advance(row, now, 'engine');
  }

  private async advance(r: RolloutRow, now: number, kind: 'engine' | 'operator', actor?: Actor | null): Promise<void> {
    const next = r.wave + 1;
    await this.transition(this.deps.sql, r, { wave: next, waveStartedMs: now, waveSettledMs: null, awaitingApproval: false, reason: `WAVE_${next + 1}` }, 'wave.advanced', { wave: next }, now, kind, actor);
  }

  /** Issue the member's directive and mark it assigned, in the caller's transaction `q`. */
  private async assign(q: SqlRunner, r: RolloutRow, m: MemberRow, now: number, out: DirectiveRecord[], retry: string | null): Promise<void> {
    const { module, manifest } = await this.release(r, q);
    const recs = await issueDirectives(this.deps, [m.deviceId], { module, manifest, rollout: r.id }, q);
    await this.deps.rollouts.updateMember(
      {
        ...m,
        state: 'assigned',
        reason: null,
        detail: retry,
        wave: retry ? m.wave : r.wave,
        attempt: m.attempt + 1,
        sequence: recs[0].sequence,
        assignedMs: retry ? m.assignedMs : now,
        deadlineMs: now + r.policy.deadlineSeconds * MS,
        updatedMs: now,
      },
      q,
    );
    if (retry) await this.note(q, r, 'device.retried', { device: m.deviceId, attempt: m.attempt + 1 }, now, retry);
    out.push(...recs);
  }

  // ---------------------------------------------------------------- transitions

  /**
   * Write the rollout's row, if it is still as `r` says: an operator action on another instance
   * may have changed it since (RolloutChanged: the transaction is rolled back, the row re-read).
   */
  private async save(q: SqlRunner, r: RolloutRow, now: number): Promise<RolloutRow> {
    const row = { ...r, updatedMs: now };
    if (!(await this.deps.rollouts.update(row, q, r.updatedMs))) throw new RolloutChanged(r.id);
    if (FINAL_ROLLOUT_STATES.includes(row.state)) this.live.delete(row.id);
    else this.live.set(row.id, row);
    return row;
  }

  /** Change the rollout and log why, in the caller's transaction `q` or (given the Sql) in a new one. */
  private transition(
    q: SqlRunner,
    r: RolloutRow,
    change: Partial<RolloutRow>,
    action: string,
    detail: Record<string, unknown>,
    now: number,
    kind: 'engine' | 'operator',
    actor?: Actor | null,
  ): Promise<RolloutRow> {
    return inTx(this.deps.sql, q, async (t) => {
      const row = await this.save(t, { ...r, ...change }, now);
      await this.note(t, row, action, { ...detail, state: row.state, wave: row.wave }, now, row.reason ?? undefined, kind, actor);
      this.dirtyRollouts.add(row.id);
      return row;
    });
  }

  private finish(r: RolloutRow, state: 'completed' | 'aborted' | 'rolled_back', reason: string, now: number, kind: 'engine' | 'operator', detail: Record<string, unknown> = {}, actor?: Actor | null, q: SqlRunner = this.deps.sql): Promise<void> {
    const done = inTx(this.deps.sql, q, async (t) => {
      // Members still waiting for their turn will not get one.
      for (const m of await this.deps.rollouts.inState(r.id, 'pending', t)) {
        await this.deps.rollouts.updateMember({ ...m, state: 'excluded', reason: `ROLLOUT_${state.toUpperCase()}`, detail: m.reason, active: false, updatedMs: now }, t);
      }
      await this.deps.rollouts.releaseMembers(r.id, t);
      await this.transition(t, r, { state, reason, awaitingApproval: false }, `rollout.${state}`, detail, now, kind, actor);
    });
    return done.then(() => void this.wakeAt.delete(r.id));
  }

  /** Send every device this rollout updated (or may have) back to the release it ran before. */
  private async rollBack(r: RolloutRow, reason: string, why: string, now: number, out: DirectiveRecord[], kind: 'engine' | 'operator', actor?: Actor | null): Promise<void> {
    const issued: DirectiveRecord[] = [];
    await this.deps.sql.tx(async (q) => {
      const back: MemberRow[] = [];
      for (const s of ['assigned', 'committed', 'timed_out'] as const) back.push(...(await this.deps.rollouts.inState(r.id, s, q)));
      let reverting = 0;
      // In device id order: the order every multi-device writer locks device rows in (DirectiveRepo.issue).
      back.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
      for (const m of back) {
        if (m.reason === 'ALREADY_RUNNING' || !m.fromDigest) continue; // nothing this rollout changed, or nothing to go back to
        const module = await this.deps.modules.byManifestDigest(m.fromDigest, q);
        const auth = await this.deps.rollouts.authorization(r.id, m.fromDigest, q);
        if (!module || !auth) continue; // never downgrade without an authorization (assignment required one)
        const recs = await issueDirectives(
          this.deps,
          [m.deviceId],
          { module, manifest: await this.deps.modules.manifestBytes(module.name, module.version, q), rollout: r.id, rollback: auth.bytes },
          q,
        );
        await this.deps.rollouts.updateMember({ ...m, state: 'reverting', reason, detail: null, sequence: recs[0].sequence, deadlineMs: now + r.policy.deadlineSeconds * MS, active: true, updatedMs: now }, q);
        issued.push(...recs);
        reverting++;
      }
      await this.finish(r, 'rolled_back', reason, now, kind, { why, reverting }, actor, q);
    });
    out.push(...issued);
  }

  // ---------------------------------------------------------------- operator actions

  async plan(req: { module: string; version: string; selector: Selector }): Promise<RolloutPlan> {
    const { eligibleDevices: _, ...plan } = await planRollout(this.deps, req);
    return { ...plan, excluded: plan.excluded.slice(0, 1000) };
  }

  create(req: CreateRequest): Promise<RolloutRow> {
    return this.exclusive(() => this.createNow(req));
  }

  private async createNow(req: CreateRequest): Promise<RolloutRow> {
    const now = this.clock();
    const policy = validatePolicy({ ...DEFAULT_POLICY, ...req.policy });
    const nowS = Math.floor(now / MS);
    if (!(req.expires > nowS)) throw new WfError('ROLLOUT_POLICY_INVALID', `expires: ${req.expires} is not in the future`);
    checkStillSigned(await this.deps.modules.manifestBytes(req.module, req.version), `${req.module}@${req.version}`, this.deps.trust().keyDocument, nowS);
    const plan = await planRollout(this.deps, req);
    if (plan.eligible === 0) {
      const reasons = [...new Set(plan.excluded.map((e) => e.code))].join(', ');
      throw new WfError('ROLLOUT_NO_ELIGIBLE', `${plan.targets} device(s) selected, all excluded (${reasons})`, { excluded: plan.excluded.slice(0, 100) });
    }
    if (plan.newCapabilities.length > 0 && !policy.allowNewCapabilities) {
      const list = plan.newCapabilities.map((n) => `${n.capabilities.join(', ')} over ${n.from}`).join('; ');
      throw new WfError('ROLLOUT_NEW_CAPABILITY', `${req.module}@${req.version} needs ${list}; pass --allow-new-capabilities to accept`);
    }
    // Rollback authorizations: valid release signatures, naming releases the targets run, lasting as long as the rollout.
    const keys = this.deps.trust().keyDocument;
    const auths = new Map<string, { component: string; expires: number; bytes: Uint8Array }>();
    req.authorizations.forEach((bytes, i) => {
      let a;
      try {
        a = openRollback(bytes, keys, nowS);
        checkRollbackCovers(a, a.component, a.target, nowS);
      } catch (err) {
        throw new WfError('ROLLBACK_INVALID', `authorizations[${i}]: ${(err as Error).message}`);
      }
      if (a.expires < req.expires) throw new WfError('ROLLBACK_INVALID', `authorizations[${i}] expires at ${a.expires}, before the rollout (${req.expires})`);
      auths.set(Buffer.from(a.target).toString('hex'), { component: a.component, expires: a.expires, bytes });
    });
    for (const rel of plan.releases) {
      const a = auths.get(rel.manifestDigest);
      if (!a || a.component !== rel.component) {
        throw new WfError('ROLLBACK_NOT_COVERED', `${rel.component}@${rel.version} (run by ${rel.devices} target device(s))`);
      }
    }
    const id = `${req.kind === 'deploy' ? 'deploy' : 'ro'}-${randomUUID().slice(0, 8)}`;
    const row = await this.deps.sql.tx(async (q) => {
      await this.deps.rollouts.insert(
        {
          id,
          createdMs: now,
          kind: req.kind ?? 'rollout',
          module: plan.module,
          version: plan.version,
          manifestDigest: plan.manifestDigest,
          selector: req.selector,
          policy,
          state: 'running',
          reason: 'CREATED',
          waveStartedMs: now,
          expires: req.expires,
        },
        q,
      );
      for (const [digest, a] of auths) await this.deps.rollouts.addAuthorization(id, digest, a.component, a.expires, a.bytes, q);
      const r = await this.deps.rollouts.require(id, q);
      const members: Array<NewMember & { active: boolean }> = plan.excluded.map((e) => ({
        deviceId: e.device,
        state: 'excluded',
        reason: e.code,
        detail: e.detail,
        fromVersion: null,
        fromDigest: null,
        active: false,
      }));
      // What decides admission besides the device itself depends only on the release it runs: asked once per release.
      const { need } = await this.release(r, q);
      const byRelease = new Map<string, FromRelease>();
      for (const d of plan.eligibleDevices) {
        const digest = d.running[0]?.manifestDigest ?? '';
        let from = byRelease.get(digest);
        if (!from) byRelease.set(digest, (from = await this.fromRelease(r, need, d, q)));
        const m = admit(r, d, need, from);
        members.push({ ...m, active: m.state !== 'excluded' });
      }
      await this.deps.rollouts.addMembers(id, members, now, q); // ROLLOUT_CONFLICT undoes everything
      const meta = { targets: plan.targets, eligible: plan.eligible, excluded: plan.excluded.length, module: plan.module, version: plan.version, policy, selector: req.selector };
      await audit(q, 'rollout.created', meta, { kind: 'operator', rollout: id, at: nowS, reason: 'CREATED', actor: req.actor });
      if (plan.newCapabilities.length > 0) {
        await audit(q, 'rollout.new_capabilities_allowed', { newCapabilities: plan.newCapabilities }, { kind: 'operator', rollout: id, at: nowS, reason: 'ALLOW_NEW_CAPABILITIES', actor: req.actor });
      }
      return r;
    });
    this.live.set(id, row);
    this.dirtyRollouts.add(id);
    this.deps.announce?.(id);
    return row;
  }

  /**
   * `deploy` (and the manual `rollback`): a rollout of one wave to the devices named, assigned at
   * once. No pre-flight exclusion (the device is told and checks for itself), no capability gate,
   * no threshold; the deadline still applies, so no device stays "in progress" forever. A deploy
   * replaces the live deploy of a device (its membership ends as SUPERSEDED); a staged rollout
   * it refuses with ROLLOUT_CONFLICT.
   */
  deploy(req: DeployRequest): Promise<{ id: string; devices: Array<{ id: string; sequence: number }> }> {
    return this.exclusive(() => this.deployNow(req));
  }

  private async deployNow(req: DeployRequest): Promise<{ id: string; devices: Array<{ id: string; sequence: number }> }> {
    const now = this.clock();
    const nowS = Math.floor(now / MS);
    const id = `${req.kind}-${randomUUID().slice(0, 8)}`;
    const policy: Policy = { ...DEFAULT_POLICY, waves: [{ percent: 100 }], successPercent: 0, allowNewCapabilities: true };
    const out: DirectiveRecord[] = [];
    const superseded = new Set<string>();
    await this.deps.sql.tx(async (q) => {
      for (const deviceId of req.targets) {
        const other = await this.deps.rollouts.activeOf(deviceId, q);
        if (!other) continue;
        // The store's row when this instance does not drive it (several instances: it may be another's).
        const r = this.live.get(other.rolloutId) ?? (await this.deps.rollouts.get(other.rolloutId, q));
        if (r && r.kind === 'rollout' && !FINAL_ROLLOUT_STATES.includes(r.state)) throw new WfError('ROLLOUT_CONFLICT', `device ${deviceId} is in rollout ${r.id}`, { rollout: r.id, device: deviceId });
        await this.deps.rollouts.updateMember({ ...other, state: 'excluded', reason: 'SUPERSEDED', detail: id, active: false, deadlineMs: null, updatedMs: now }, q);
        superseded.add(other.rolloutId);
      }
      await this.deps.rollouts.insert(
        {
          id,
          createdMs: now,
          kind: req.kind,
          module: req.module.name,
          version: req.module.version,
          manifestDigest: req.module.manifestDigest,
          selector: req.selector,
          policy,
          state: 'running',
          reason: 'CREATED',
          waveStartedMs: now,
          expires: nowS + this.deps.directiveTtlSeconds,
        },
        q,
      );
      const records = await issueDirectives(this.deps, req.targets, { module: req.module, manifest: req.manifest, rollout: id, config: req.config, rollback: req.rollback }, q);
      const members: Array<NewMember & { active: boolean }> = [];
      for (const rec of records) {
        const current = (await this.deps.devices.get(rec.deviceId, q))?.running[0];
        members.push({
          deviceId: rec.deviceId,
          state: 'assigned',
          reason: null,
          detail: null,
          fromVersion: current?.version ?? null,
          fromDigest: current?.manifestDigest ?? null,
          wave: 0,
          active: true,
          assigned: { sequence: rec.sequence, atMs: now, deadlineMs: now + policy.deadlineSeconds * MS },
        });
      }
      await this.deps.rollouts.addMembers(id, members, now, q);
      out.push(...records);
      await audit(q, `${req.kind}.created`, { module: req.module.name, version: req.module.version, devices: req.targets.length, selector: req.selector }, { kind: 'operator', rollout: id, at: nowS, reason: 'CREATED', actor: req.actor });
    });
    this.live.set(id, await this.deps.rollouts.require(id));
    for (const r of [id, ...superseded]) {
      this.dirtyRollouts.add(r);
      this.deps.announce?.(r);
    }
    publishDirectives(this.deps, out);
    return { id, devices: out.map((r) => ({ id: r.deviceId, sequence: r.sequence })) };
  }

  pause(id: string, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.operatorAction(async () => {
      const r = await this.requireLive(id, 'pause');
      if (r.state !== 'running') throw new WfError('ROLLOUT_STATE', `${id} is ${r.state}`);
      return this.announced(await this.transition(this.deps.sql, r, { state: 'paused', reason: 'OPERATOR' }, 'rollout.paused', {}, this.clock(), 'operator', actor));
    }));
  }

  resume(id: string, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.operatorAction(async () => {
      const r = await this.requireLive(id, 'resume');
      if (r.state !== 'paused') throw new WfError('ROLLOUT_STATE', `${id} is ${r.state}, not paused`);
      return this.announced(await this.transition(this.deps.sql, r, { state: 'running', reason: 'RESUMED' }, 'rollout.resumed', {}, this.clock(), 'operator', actor));
    }));
  }

  approve(id: string, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.operatorAction(async () => {
      const r = await this.requireLive(id, 'approve');
      if (!r.awaitingApproval) throw new WfError('ROLLOUT_STATE', `${id} is not waiting for approval (wave ${r.wave + 1}, ${r.state})`);
      await this.advance(r, this.clock(), 'operator', actor);
      return this.announced(await this.deps.rollouts.require(id));
    }));
  }

  abort(id: string, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.operatorAction(async () => {
      const r = await this.requireLive(id, 'abort');
      await this.finish(r, 'aborted', 'OPERATOR', this.clock(), 'operator', {}, actor);
      return this.announced(await this.deps.rollouts.require(id));
    }));
  }

  rollback(id: string, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.operatorAction(async () => {
      const r = await this.requireLive(id, 'roll back');
      const out: DirectiveRecord[] = [];
      await this.rollBack(r, 'OPERATOR', 'operator asked', this.clock(), out, 'operator', actor);
      publishDirectives(this.deps, out);
      return this.announced(await this.deps.rollouts.require(id));
    }));
  }

  /** Another instance changed this rollout (operator action): take the stored row, look at it next tick. */
  rolloutChanged(id: string): Promise<void> {
    return this.exclusive(() => this.reread(id));
  }

  private async reread(id: string): Promise<void> {
    const r = await this.deps.rollouts.get(id);
    if (!r || FINAL_ROLLOUT_STATES.includes(r.state)) this.live.delete(id);
    else this.live.set(id, r);
    this.wakeAt.delete(id);
    this.dirtyRollouts.add(id);
  }

  /** An operator action, run again once if the rollout changed under it (it re-reads the store). */
  private async operatorAction<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof RolloutChanged)) throw err;
      return fn();
    }
  }

  /** All of it may have changed (the change feed missed some): re-read the store. */
  resync(): Promise<void> {
    return this.exclusive(() => this.recover());
  }

  private async requireLive(id: string, what: string): Promise<RolloutRow> {
    // The store, not the cache: with several instances another one may have changed it.
    const r = await this.deps.rollouts.require(id);
    if (FINAL_ROLLOUT_STATES.includes(r.state)) throw new WfError('ROLLOUT_STATE', `cannot ${what} ${id}: it is ${r.state} (${r.reason ?? ''})`);
    return r;
  }

  // ---------------------------------------------------------------- helpers

  /** The release a rollout ships, and what it needs of a device (in the transaction `q` when there is one). */
  private async release(r: Pick<RolloutRow, 'module' | 'version' | 'manifestDigest'>, q?: SqlRunner): Promise<{ need: ReleaseNeeds; module: ModuleView; manifest: Uint8Array }> {
    let v = this.needs.get(r.manifestDigest);
    if (!v) {
      const module = await this.deps.modules.require(r.module, r.version, q);
      v = { module, manifest: await this.deps.modules.manifestBytes(r.module, r.version, q), need: await releaseNeeds(this.deps, module, q) };
      this.needs.set(r.manifestDigest, v);
    }
    return v;
  }

  private async counts(rolloutId: string): Promise<Counts> {
    const c = await this.deps.rollouts.counts(rolloutId);
    const committed = (c.committed ?? 0) + (c.reverting ?? 0) + (c.rolled_back ?? 0);
    const failed = (c.failed ?? 0) + (c.timed_out ?? 0);
    return { committed, failed, decided: committed + failed };
  }

  private async waveCounts(r: RolloutRow): Promise<Counts> {
    const c = await this.deps.rollouts.counts(r.id, r.wave);
    const committed = c.committed ?? 0;
    const failed = (c.failed ?? 0) + (c.timed_out ?? 0);
    return { committed, failed, decided: committed + failed };
  }

  private note(q: SqlRunner, r: RolloutRow, action: string, detail: Record<string, unknown>, now: number, reason?: string, kind: AuditMeta['kind'] = 'engine', actor?: Actor | null): Promise<void> {
    return audit(q, action, detail, { kind, rollout: r.id, reason, at: Math.floor(now / MS), actor });
  }

  /** Rollout detail for the API: counts per state, per wave, per reason. */
  async view(id: string) {
    const r = await this.deps.rollouts.require(id);
    const members = await this.deps.rollouts.members(id);
    const states: Record<string, number> = {};
    const reasons: Record<string, number> = {};
    const waves = r.policy.waves.map(() => ({} as Record<string, number>));
    for (const m of members) {
      states[m.state] = (states[m.state] ?? 0) + 1;
      if (m.reason) reasons[`${m.state}:${m.reason}`] = (reasons[`${m.state}:${m.reason}`] ?? 0) + 1;
      if (m.wave !== null && waves[m.wave]) waves[m.wave][m.state] = (waves[m.wave][m.state] ?? 0) + 1;
    }
    const eligible = members.filter((m) => m.state !== 'excluded').length;
    return {
      ...r,
      devices: members.length,
      states,
      reasons,
      waves: r.policy.waves.map((w, k) => ({ wave: k + 1, spec: w, cap: waveCap(r.policy.waves, k, eligible), states: waves[k] })),
    };
  }

  /** Add an authorization after the start (a late joiner's release): its waiting members can go. */
  authorize(id: string, bytes: Uint8Array, actor?: Actor | null): Promise<RolloutRow> {
    return this.exclusive(() => this.authorizeNow(id, bytes, actor));
  }

  private async authorizeNow(id: string, bytes: Uint8Array, actor?: Actor | null): Promise<RolloutRow> {
    const r = await this.requireLive(id, 'authorize');
    const nowS = Math.floor(this.clock() / MS);
    let a;
    try {
      a = openRollback(bytes, this.deps.trust().keyDocument, nowS);
      checkRollbackCovers(a, a.component, a.target, nowS);
    } catch (err) {
      throw new WfError('ROLLBACK_INVALID', (err as Error).message);
    }
    const digest = Buffer.from(a.target).toString('hex');
    await this.deps.sql.tx(async (q) => {
      if (!(await this.covered(r, digest, q))) await this.deps.rollouts.addAuthorization(id, digest, a.component, a.expires, bytes, q);
      for (const m of await this.deps.rollouts.inState(id, 'pending', q)) {
        if (m.reason === 'ROLLBACK_NOT_COVERED' && m.fromDigest === digest) await this.deps.rollouts.updateMember({ ...m, reason: null, detail: null, updatedMs: this.clock() }, q);
      }
      await audit(q, 'rollout.authorized', { component: a.component, target: digest }, { kind: 'operator', rollout: id, at: nowS, actor });
    });
    this.dirtyRollouts.add(id);
    return this.announced(r);
  }

  private announced(r: RolloutRow): RolloutRow {
    this.deps.announce?.(r.id);
    return r;
  }
}

/** Of the release a device runs now: the capabilities the new one adds, and whether a rollback to it is authorized. */
interface FromRelease {
  added: { from: string; capabilities: string[] } | null;
  covered: boolean;
}

/** Pre-flight, capability gate and rollback coverage of one device: its first member state. */
function admit(r: RolloutRow, d: DeviceFacts, need: ReleaseNeeds, from: FromRelease): NewMember {
  const current = d.running[0];
  const base = { deviceId: d.id, fromVersion: current?.version ?? null, fromDigest: current?.manifestDigest ?? null, wave: null };
  const refused = preflight(need, d);
  if (refused) return { ...base, state: 'excluded', reason: refused.code, detail: refused.detail };
  if (from.added && !r.policy.allowNewCapabilities) {
    return { ...base, state: 'excluded', reason: 'ROLLOUT_NEW_CAPABILITY', detail: `${from.added.capabilities.join(', ')} over ${from.added.from}` };
  }
  if (current?.manifestDigest === need.manifestDigest) return { ...base, state: 'committed', reason: 'ALREADY_RUNNING', detail: null, wave: r.wave };
  if (current && !from.covered) {
    return { ...base, state: 'pending', reason: 'ROLLBACK_NOT_COVERED', detail: `no rollback authorization for ${current.component}@${current.version} yet` };
  }
  return { ...base, state: 'pending', reason: null, detail: null };
}

function sum(c: Partial<Record<MemberState, number>>, states: MemberState[]): number {
  return states.reduce((n, s) => n + (c[s] ?? 0), 0);
}

/** The rollout's row was written by someone else since it was read (server instances: docs/scale-out.md). */
class RolloutChanged extends Error {
  constructor(readonly rolloutId: string) {
    super(`rollout ${rolloutId} changed since it was read`);
  }
}
