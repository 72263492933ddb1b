// The rollout engine: a reconciler driven by device events and a clock (docs/rollouts.md).
// Each tick does work in proportion to what changed: the devices named by events since the last
// tick (dirty set), the members whose deadline passed (indexed), and the rollouts that were
// touched or whose timer (soak end, rate slot) is due. Every decision is one SQLite transaction;
// assigning a device and storing its directive are the same transaction, publishing comes after,
// and what a device is owed is re-published whenever its reports show it does not have it.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { openRollback, checkRollbackCovers } from '../../protocol/payloads/rollback.js';
import { deviceTopic } from '../../protocol/topics.js';
import { audit, type Actor, type AuditMeta, type Db } from '../store/db.js';
import type { DeviceFacts, DeviceRepo, DeviceView } from '../store/devices.js';
import type { DirectiveRecord, DirectiveRepo } from '../store/directives.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { MemberRow, RolloutRepo, RolloutRow } from '../store/rollouts.js';
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
  db: Db;
  devices: DeviceRepo;
  modules: ModuleRepo;
  directives: DirectiveRepo;
  rollouts: RolloutRepo;
  trust: () => Trust;
  log: Logger;
  /** Milliseconds since the epoch; tests may pass a fake clock. */
  clock?: () => number;
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

export interface TickStats {
  devices: number;
  deadlines: number;
  rollouts: number;
  published: number;
}

/** How many rows one tick takes from each source, so a burst is spread over ticks. */
const BATCH = 500;
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

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: { tickMs?: number; owedCheckMs?: number } = {},
  ) {
    this.clock = deps.clock ?? Date.now;
    for (const r of deps.rollouts.live()) {
      this.live.set(r.id, r);
      this.dirtyRollouts.add(r.id);
      // After a restart, look again at every device in flight: reports may have come while we were down.
      for (const m of [...deps.rollouts.inState(r.id, 'assigned'), ...deps.rollouts.inState(r.id, 'reverting')]) this.dirtyDevices.set(m.deviceId, 'report');
    }
  }

  start(): void {
    this.timer ??= setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.deps.log.error({ err }, 'rollout engine tick failed');
      }
    }, this.opts.tickMs ?? 200);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A device said something or was changed: look at it on the next tick. */
  deviceChanged(id: string, why: DeviceEvent): void {
    const prev = this.dirtyDevices.get(id);
    // hello/online also ask for the owed re-publish check: keep that stronger reason.
    if (prev === 'hello' || prev === 'online') return;
    this.dirtyDevices.set(id, why);
  }

  // ---------------------------------------------------------------- tick

  tick(): TickStats {
    const now = this.clock();
    const stats: TickStats = { devices: 0, deadlines: 0, rollouts: 0, published: 0 };
    const toPublish: DirectiveRecord[] = [];

    // 1. devices that changed, in one transaction: a thousand devices committing within a tick
    //    are one write to disk, not a thousand. If it fails, they are looked at again next tick.
    const batch = [...this.dirtyDevices].slice(0, BATCH);
    for (const [id] of batch) this.dirtyDevices.delete(id);
    try {
      this.deps.db.transaction(() => {
        for (const [id, why] of batch) {
          stats.devices++;
          const device = this.deps.devices.get(id);
          if (!device) continue;
          this.onDevice(device, now, toPublish);
          if (why === 'hello' || why === 'online') stats.published += this.republishIfOwed(device);
        }
      })();
    } catch (err) {
      for (const [id, why] of batch) if (!this.dirtyDevices.has(id)) this.dirtyDevices.set(id, why);
      throw err;
    }

    // 2. deadlines
    for (const m of this.deps.rollouts.due(now, BATCH)) {
      stats.deadlines++;
      this.onDeadline(m, now, toPublish);
    }

    // 3. rollouts touched or due
    for (const r of this.live.values()) if (now >= r.expires * MS) this.dirtyRollouts.add(r.id);
    for (const [id, at] of this.wakeAt) {
      if (at <= now) {
        this.wakeAt.delete(id);
        this.dirtyRollouts.add(id);
      }
    }
    for (const id of [...this.dirtyRollouts]) {
      this.dirtyRollouts.delete(id);
      const r = this.live.get(id);
      if (!r) continue;
      stats.rollouts++;
      this.step(r, now, toPublish);
    }

    // 4. the slow check for devices online that have not got what they are owed
    if (now >= this.nextOwedCheck) {
      this.nextOwedCheck = now + (this.opts.owedCheckMs ?? 30_000);
      for (const id of this.deps.directives.undelivered(BATCH)) {
        const d = this.deps.devices.get(id);
        if (d) stats.published += this.republishIfOwed(d);
      }
    }

    publishDirectives(this.deps, toPublish);
    stats.published += toPublish.length;
    return stats;
  }

  /** Re-send the newest directive when the device's report shows it neither has it nor works on it. */
  private republishIfOwed(d: DeviceView): number {
    const owed = this.deps.directives.latestBundleOf(d.id);
    if (!owed || d.sequence >= owed.sequence || (d.targetSequence !== null && d.targetSequence >= owed.sequence)) return 0;
    this.deps.publish(deviceTopic(d.id, 'directive'), owed.bundle, { qos: 1, retain: true });
    return 1;
  }

  // ---------------------------------------------------------------- device events

  private onDevice(d: DeviceView, now: number, out: DirectiveRecord[]): void {
    const m = this.deps.rollouts.activeOf(d.id);
    if (m) {
      const r = this.live.get(m.rolloutId);
      if (r || m.state === 'reverting') this.followReport(m, d, r ?? this.deps.rollouts.require(m.rolloutId), now, out);
      return;
    }
    // Not in a rollout: does a running one now select it (new, re-tagged, back online, said hello)?
    for (const r of this.live.values()) {
      // Deploys are one-shot: they take the devices named when they were made, no late joiners.
      if (r.kind !== 'rollout' || !matchesSelector(r.selector, d) || now > r.expires * MS) continue;
      if (this.join(r, d, now)) return;
    }
  }

  /** A device joins a live rollout after the start: same pre-flight, gate and waves as the first ones. */
  private join(r: RolloutRow, d: DeviceView, now: number): boolean {
    const existing = this.deps.rollouts.member(r.id, d.id);
    if (existing && existing.state !== 'excluded') return false;
    const m = this.admission(r, d);
    return this.deps.db.transaction(() => {
      if (existing) {
        // Excluded before (no hello, missing capability, other rollout): look again.
        if (m.state === 'excluded' && existing.reason === m.reason) return false;
        try {
          this.deps.rollouts.updateMember({ ...existing, ...m, active: m.state !== 'excluded', updatedMs: now });
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
          return false;
        }
      } else {
        try {
          this.deps.rollouts.addMember(r.id, m, now, m.state !== 'excluded');
        } catch (err) {
          if (!(err instanceof WfError && err.code === 'ROLLOUT_CONFLICT')) throw err;
          this.deps.rollouts.addMember(r.id, { ...m, state: 'excluded', reason: 'ROLLOUT_CONFLICT', detail: err.message }, now, false);
          return false;
        }
      }
      if (m.state !== 'excluded') {
        this.note(r, 'device.joined', { device: d.id, state: m.state, reason: m.reason }, now, m.reason ?? undefined);
        this.dirtyRollouts.add(r.id);
      }
      return m.state !== 'excluded';
    })();
  }

  /** Pre-flight, capability gate and rollback coverage of one device: its first member state. */
  private admission(r: RolloutRow, d: DeviceFacts): Pick<MemberRow, 'deviceId' | 'state' | 'reason' | 'detail' | 'fromVersion' | 'fromDigest' | 'wave'> {
    const { need } = this.release(r);
    const current = d.running[0];
    const base = { deviceId: d.id, fromVersion: current?.version ?? null, fromDigest: current?.manifestDigest ?? null, wave: null };
    const refused = preflight(need, d);
    if (refused) return { ...base, state: 'excluded', reason: refused.code, detail: refused.detail };
    const added = addedCapabilities(this.deps.modules, need, d);
    if (added && !r.policy.allowNewCapabilities) {
      return { ...base, state: 'excluded', reason: 'ROLLOUT_NEW_CAPABILITY', detail: `${added.capabilities.join(', ')} over ${added.from}` };
    }
    if (current?.manifestDigest === need.manifestDigest) return { ...base, state: 'committed', reason: 'ALREADY_RUNNING', detail: null, wave: r.wave };
    if (current && !this.covered(r, current.manifestDigest)) {
      return { ...base, state: 'pending', reason: 'ROLLBACK_NOT_COVERED', detail: `no rollback authorization for ${current.component}@${current.version} yet` };
    }
    return { ...base, state: 'pending', reason: null, detail: null };
  }

  private covered(r: RolloutRow, digest: string): boolean {
    return this.deps.rollouts.authorization(r.id, digest) !== undefined;
  }

  /** Map the device's last report onto its membership. */
  private followReport(m: MemberRow, d: DeviceView, r: RolloutRow, now: number, out: DirectiveRecord[]): void {
    const seq = m.sequence;
    if (seq === null || (m.state !== 'assigned' && m.state !== 'reverting' && m.state !== 'committed')) return;
    const want = m.state === 'reverting' ? m.fromDigest : r.manifestDigest;
    const done = d.state === 'committed' && d.sequence >= seq && d.running.some((c) => c.manifestDigest === want);
    // A refusal (checks 1-4) is reported without a target sequence; anything after assignment is ours.
    const refusedOurs = d.state === 'failed' && (d.targetSequence === seq || (d.targetSequence === null && m.state !== 'committed' && (d.sequence < seq)));
    const revertedOurs = d.state === 'rolled_back' && d.targetSequence === seq;
    if (m.state === 'committed') {
      // Committed, then the device reverted the same update (watchdog in a later probation): a failure.
      if (revertedOurs) this.settle(r, m, 'failed', d.reason ?? 'UNKNOWN', d.detail, now);
      return;
    }
    if (done) {
      this.settle(r, m, m.state === 'reverting' ? 'rolled_back' : 'committed', null, null, now);
    } else if (refusedOurs || revertedOurs) {
      if (m.state === 'assigned' && refusedOurs && m.attempt <= r.policy.retries && this.live.get(r.id)?.state === 'running') {
        this.assign(r, m, now, out, `retry after ${d.reason ?? 'failure'}`);
      } else {
        this.settle(r, m, 'failed', d.reason ?? 'UNKNOWN', m.state === 'reverting' ? `rollback: ${d.detail ?? ''}` : d.detail, now);
      }
    }
  }

  private settle(r: RolloutRow, m: MemberRow, state: MemberState, reason: string | null, detail: string | null, now: number): void {
    const stillDriven = this.live.has(r.id);
    this.deps.rollouts.updateMember({ ...m, state, reason, detail, deadlineMs: null, active: stillDriven && m.state !== 'reverting', updatedMs: now });
    this.dirtyRollouts.add(r.id);
  }

  private onDeadline(m: MemberRow, now: number, out: DirectiveRecord[]): void {
    const r = this.deps.rollouts.require(m.rolloutId);
    if (m.state === 'assigned' && m.attempt <= r.policy.retries && this.live.get(r.id)?.state === 'running') {
      this.assign(r, m, now, out, 'retry after DEVICE_TIMEOUT');
      return;
    }
    this.deps.db.transaction(() => {
      this.settle(r, m, 'timed_out', 'DEVICE_TIMEOUT', m.state === 'reverting' ? 'no report of the rollback before the deadline' : `no final report within ${r.policy.deadlineSeconds} s`, now);
      this.note(r, 'device.timed_out', { device: m.deviceId, attempt: m.attempt, rollback: m.state === 'reverting' }, now, 'DEVICE_TIMEOUT');
    })();
  }

  // ---------------------------------------------------------------- the rollout's own step

  private step(r: RolloutRow, now: number, out: DirectiveRecord[]): void {
    // Past its expiry the rollback authorizations are no longer valid: start nobody else.
    if (now >= r.expires * MS) {
      this.finish(r, 'aborted', 'EXPIRED', now, 'engine');
      return;
    }
    if (r.state !== 'running') return;
    const counts = this.counts(r.id);
    if (failureTripped(r.policy, counts)) {
      const why = `${counts.failed} of ${counts.decided} decided devices failed (> ${r.policy.maxFailuresPercent}%, sample ≥ ${r.policy.minSample})`;
      if (r.policy.onFailure === 'rollback') this.rollBack(r, 'FAILURE_THRESHOLD', why, now, out, 'engine');
      else this.transition(r, { state: 'paused', reason: 'FAILURE_THRESHOLD' }, 'rollout.paused', { why }, now, 'engine');
      return;
    }
    if (r.awaitingApproval) return;

    // Fill the current wave: cumulative cap over the members that can go (pending, started, done).
    const all = this.deps.rollouts.counts(r.id);
    const eligible = sum(all, ['pending', 'assigned', 'committed', 'failed', 'timed_out', 'reverting', 'rolled_back']);
    const cap = waveCap(r.policy.waves, r.wave, eligible);
    let started = this.deps.rollouts.started(r.id);
    let row = r;
    if (started < cap) {
      const rate = waveRate(r.policy, r.wave);
      for (const m of this.deps.rollouts.pending(r.id, Math.min(cap - started, STARTS_PER_TICK))) {
        const tat = rateAdmit(row.rateTatMs, now, rate);
        if (tat === null) {
          this.wakeAt.set(r.id, rateReadyAt(row.rateTatMs, rate!));
          break;
        }
        const next: RolloutRow = { ...row, rateTatMs: tat };
        this.deps.db.transaction(() => {
          this.save(next, now);
          this.assign(next, m, now, out, null);
        })();
        row = next;
        started++;
      }
      if (started < cap && this.deps.rollouts.pending(r.id, 1).length > 0 && !this.wakeAt.has(r.id)) this.dirtyRollouts.add(r.id);
    }

    // Settled: nothing in flight, and the wave has every device it can get now.
    const waitingForCap = started < cap && this.deps.rollouts.pending(r.id, 1).length > 0;
    const settled = !waitingForCap && this.deps.rollouts.counts(r.id).assigned === undefined;
    if (!settled) {
      if (row.waveSettledMs !== null) this.save({ ...row, waveSettledMs: null }, now);
      return;
    }
    if (row.waveSettledMs === null) {
      row = this.save({ ...row, waveSettledMs: now }, now);
      this.note(row, 'wave.settled', { wave: row.wave, ...this.waveCounts(row) }, now);
    }
    const soakEnd = row.waveSettledMs! + row.policy.soakSeconds * MS;
    if (now < soakEnd) {
      this.wakeAt.set(r.id, soakEnd);
      return;
    }
    const wc = this.waveCounts(row);
    if (!successMet(row.policy, wc)) {
      this.transition(row, { state: 'paused', reason: 'SUCCESS_THRESHOLD' }, 'rollout.paused', { wave: row.wave, ...wc, successPercent: row.policy.successPercent }, now, 'engine');
      return;
    }
    if (row.wave >= row.policy.waves.length - 1) {
      this.finish(row, 'completed', 'ALL_WAVES_DONE', now, 'engine', { ...counts });
      return;
    }
    if (row.policy.approval) {
      this.transition(row, { awaitingApproval: true, reason: 'WAITING_APPROVAL' }, 'wave.awaiting_approval', { wave: row.wave }, now, 'engine');
      return;
    }
    this.advance(row, now, 'engine');
  }

  private advance(r: RolloutRow, now: number, kind: 'engine' | 'operator', actor?: Actor | null): void {
    const next = r.wave + 1;
    this.transition(r, { wave: next, waveStartedMs: now, waveSettledMs: null, awaitingApproval: false, reason: `WAVE_${next + 1}` }, 'wave.advanced', { wave: next }, now, kind, actor);
  }

  /** Issue the member's directive and mark it assigned, in one transaction (the caller's, if any). */
  private assign(r: RolloutRow, m: MemberRow, now: number, out: DirectiveRecord[], retry: string | null): void {
    const { module, manifest } = this.release(r);
    const records = this.deps.db.transaction(() => {
      const recs = issueDirectives(this.deps, [m.deviceId], { module, manifest, rollout: r.id });
      this.deps.rollouts.updateMember({
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
      });
      if (retry) this.note(r, 'device.retried', { device: m.deviceId, attempt: m.attempt + 1 }, now, retry);
      return recs;
    })();
    out.push(...records);
  }

  // ---------------------------------------------------------------- transitions

  private save(r: RolloutRow, now: number): RolloutRow {
    const row = { ...r, updatedMs: now };
    this.deps.rollouts.update(row);
    if (FINAL_ROLLOUT_STATES.includes(row.state)) this.live.delete(row.id);
    else this.live.set(row.id, row);
    return row;
  }

  private transition(
    r: RolloutRow,
    change: Partial<RolloutRow>,
    action: string,
    detail: Record<string, unknown>,
    now: number,
    kind: 'engine' | 'operator',
    actor?: Actor | null,
  ): RolloutRow {
    return this.deps.db.transaction(() => {
      const row = this.save({ ...r, ...change }, now);
      this.note(row, action, { ...detail, state: row.state, wave: row.wave }, now, row.reason ?? undefined, kind, actor);
      this.dirtyRollouts.add(row.id);
      return row;
    })();
  }

  private finish(r: RolloutRow, state: 'completed' | 'aborted' | 'rolled_back', reason: string, now: number, kind: 'engine' | 'operator', detail: Record<string, unknown> = {}, actor?: Actor | null): void {
    this.deps.db.transaction(() => {
      // Members still waiting for their turn will not get one.
      for (const m of this.deps.rollouts.inState(r.id, 'pending')) {
        this.deps.rollouts.updateMember({ ...m, state: 'excluded', reason: `ROLLOUT_${state.toUpperCase()}`, detail: m.reason, active: false, updatedMs: now });
      }
      this.deps.rollouts.releaseMembers(r.id);
      this.transition(r, { state, reason, awaitingApproval: false }, `rollout.${state}`, detail, now, kind, actor);
    })();
    this.wakeAt.delete(r.id);
  }

  /** Send every device this rollout updated (or may have) back to the release it ran before. */
  private rollBack(r: RolloutRow, reason: string, why: string, now: number, out: DirectiveRecord[], kind: 'engine' | 'operator', actor?: Actor | null): void {
    this.deps.db.transaction(() => {
      const back = ['assigned', 'committed', 'timed_out'].flatMap((s) => this.deps.rollouts.inState(r.id, s as MemberState));
      let reverting = 0;
      for (const m of back) {
        if (m.reason === 'ALREADY_RUNNING' || !m.fromDigest) continue; // nothing this rollout changed, or nothing to go back to
        const module = this.deps.modules.byManifestDigest(m.fromDigest);
        const auth = this.deps.rollouts.authorization(r.id, m.fromDigest);
        if (!module || !auth) continue; // never downgrade without an authorization (assignment required one)
        const recs = issueDirectives(this.deps, [m.deviceId], {
          module,
          manifest: this.deps.modules.manifestBytes(module.name, module.version),
          rollout: r.id,
          rollback: auth.bytes,
        });
        this.deps.rollouts.updateMember({ ...m, state: 'reverting', reason, detail: null, sequence: recs[0].sequence, deadlineMs: now + r.policy.deadlineSeconds * MS, active: true, updatedMs: now });
        out.push(...recs);
        reverting++;
      }
      this.finish(r, 'rolled_back', reason, now, kind, { why, reverting }, actor);
    })();
  }

  // ---------------------------------------------------------------- operator actions

  plan(req: { module: string; version: string; selector: Selector }): RolloutPlan {
    const { eligibleDevices: _, ...plan } = planRollout(this.deps, req);
    return { ...plan, excluded: plan.excluded.slice(0, 1000) };
  }

  create(req: CreateRequest): RolloutRow {
    const now = this.clock();
    const policy = validatePolicy({ ...DEFAULT_POLICY, ...req.policy });
    const nowS = Math.floor(now / MS);
    if (!(req.expires > nowS)) throw new WfError('ROLLOUT_POLICY_INVALID', `expires: ${req.expires} is not in the future`);
    checkStillSigned(this.deps.modules.manifestBytes(req.module, req.version), `${req.module}@${req.version}`, this.deps.trust().keyDocument, nowS);
    const plan = planRollout(this.deps, req);
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
    const row = this.deps.db.transaction(() => {
      this.deps.rollouts.insert({
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
      });
      for (const [digest, a] of auths) this.deps.rollouts.addAuthorization(id, digest, a.component, a.expires, a.bytes);
      const r = this.deps.rollouts.require(id);
      for (const e of plan.excluded) {
        this.deps.rollouts.addMember(id, { deviceId: e.device, state: 'excluded', reason: e.code, detail: e.detail, fromVersion: null, fromDigest: null }, now, false);
      }
      for (const d of plan.eligibleDevices) {
        const m = this.admission(r, d);
        this.deps.rollouts.addMember(id, m, now, m.state !== 'excluded'); // ROLLOUT_CONFLICT undoes everything
      }
      const meta = { targets: plan.targets, eligible: plan.eligible, excluded: plan.excluded.length, module: plan.module, version: plan.version, policy, selector: req.selector };
      audit(this.deps.db, 'rollout.created', meta, { kind: 'operator', rollout: id, at: nowS, reason: 'CREATED', actor: req.actor });
      if (plan.newCapabilities.length > 0) {
        audit(this.deps.db, 'rollout.new_capabilities_allowed', { newCapabilities: plan.newCapabilities }, { kind: 'operator', rollout: id, at: nowS, reason: 'ALLOW_NEW_CAPABILITIES', actor: req.actor });
      }
      return r;
    })();
    this.live.set(id, row);
    this.dirtyRollouts.add(id);
    return row;
  }

  /**
   * `deploy` (and the manual `rollback`): a rollout of one wave to the devices named, assigned at
   * once. No pre-flight exclusion (the device is told and checks for itself), no capability gate,
   * no threshold; the deadline still applies, so no device stays "in progress" forever. A deploy
   * replaces the live deploy of a device (its membership ends as SUPERSEDED); a staged rollout
   * it refuses with ROLLOUT_CONFLICT.
   */
  deploy(req: { kind: 'deploy' | 'rollback'; module: ModuleView; manifest: Uint8Array; selector: Selector; targets: string[]; config?: Record<string, string>; rollback?: Uint8Array; actor?: Actor | null }): {
    id: string;
    devices: Array<{ id: string; sequence: number }>;
  } {
    const now = this.clock();
    const nowS = Math.floor(now / MS);
    const id = `${req.kind}-${randomUUID().slice(0, 8)}`;
    const policy: Policy = { ...DEFAULT_POLICY, waves: [{ percent: 100 }], successPercent: 0, allowNewCapabilities: true };
    const out: DirectiveRecord[] = [];
    const superseded = new Set<string>();
    this.deps.db.transaction(() => {
      for (const deviceId of req.targets) {
        const other = this.deps.rollouts.activeOf(deviceId);
        if (!other) continue;
        const r = this.live.get(other.rolloutId);
        if (r && r.kind === 'rollout') throw new WfError('ROLLOUT_CONFLICT', `device ${deviceId} is in rollout ${r.id}`, { rollout: r.id, device: deviceId });
        this.deps.rollouts.updateMember({ ...other, state: 'excluded', reason: 'SUPERSEDED', detail: id, active: false, deadlineMs: null, updatedMs: now });
        superseded.add(other.rolloutId);
      }
      this.deps.rollouts.insert({
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
      });
      const records = issueDirectives(this.deps, req.targets, { module: req.module, manifest: req.manifest, rollout: id, config: req.config, rollback: req.rollback });
      const devices = new Map(req.targets.map((t) => [t, this.deps.devices.get(t)]));
      for (const rec of records) {
        const current = devices.get(rec.deviceId)?.running[0];
        this.deps.rollouts.addMember(id, { deviceId: rec.deviceId, state: 'assigned', reason: null, detail: null, fromVersion: current?.version ?? null, fromDigest: current?.manifestDigest ?? null, wave: 0 }, now);
        const m = this.deps.rollouts.member(id, rec.deviceId)!;
        this.deps.rollouts.updateMember({ ...m, attempt: 1, sequence: rec.sequence, assignedMs: now, deadlineMs: now + policy.deadlineSeconds * MS });
      }
      out.push(...records);
      audit(this.deps.db, `${req.kind}.created`, { module: req.module.name, version: req.module.version, devices: req.targets.length, selector: req.selector }, { kind: 'operator', rollout: id, at: nowS, reason: 'CREATED', actor: req.actor });
    })();
    this.live.set(id, this.deps.rollouts.require(id));
    for (const r of [id, ...superseded]) this.dirtyRollouts.add(r);
    publishDirectives(this.deps, out);
    return { id, devices: out.map((r) => ({ id: r.deviceId, sequence: r.sequence })) };
  }

  pause(id: string, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'pause');
    if (r.state !== 'running') throw new WfError('ROLLOUT_STATE', `${id} is ${r.state}`);
    return this.transition(r, { state: 'paused', reason: 'OPERATOR' }, 'rollout.paused', {}, this.clock(), 'operator', actor);
  }

  resume(id: string, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'resume');
    if (r.state !== 'paused') throw new WfError('ROLLOUT_STATE', `${id} is ${r.state}, not paused`);
    return this.transition(r, { state: 'running', reason: 'RESUMED' }, 'rollout.resumed', {}, this.clock(), 'operator', actor);
  }

  approve(id: string, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'approve');
    if (!r.awaitingApproval) throw new WfError('ROLLOUT_STATE', `${id} is not waiting for approval (wave ${r.wave + 1}, ${r.state})`);
    this.advance(r, this.clock(), 'operator', actor);
    return this.deps.rollouts.require(id);
  }

  abort(id: string, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'abort');
    this.finish(r, 'aborted', 'OPERATOR', this.clock(), 'operator', {}, actor);
    return this.deps.rollouts.require(id);
  }

  rollback(id: string, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'roll back');
    const out: DirectiveRecord[] = [];
    this.rollBack(r, 'OPERATOR', 'operator asked', this.clock(), out, 'operator', actor);
    publishDirectives(this.deps, out);
    return this.deps.rollouts.require(id);
  }

  private requireLive(id: string, what: string): RolloutRow {
    const r = this.live.get(id) ?? this.deps.rollouts.require(id);
    if (FINAL_ROLLOUT_STATES.includes(r.state)) throw new WfError('ROLLOUT_STATE', `cannot ${what} ${id}: it is ${r.state} (${r.reason ?? ''})`);
    return r;
  }

  // ---------------------------------------------------------------- helpers

  private release(r: RolloutRow): { need: ReleaseNeeds; module: ModuleView; manifest: Uint8Array } {
    let v = this.needs.get(r.manifestDigest);
    if (!v) {
      const module = this.deps.modules.require(r.module, r.version);
      v = { module, manifest: this.deps.modules.manifestBytes(r.module, r.version), need: releaseNeeds(this.deps, module) };
      this.needs.set(r.manifestDigest, v);
    }
    return v;
  }

  private counts(rolloutId: string): Counts {
    const c = this.deps.rollouts.counts(rolloutId);
    const committed = (c.committed ?? 0) + (c.reverting ?? 0) + (c.rolled_back ?? 0);
    const failed = (c.failed ?? 0) + (c.timed_out ?? 0);
    return { committed, failed, decided: committed + failed };
  }

  private waveCounts(r: RolloutRow): Counts {
    const c = this.deps.rollouts.counts(r.id, r.wave);
    const committed = c.committed ?? 0;
    const failed = (c.failed ?? 0) + (c.timed_out ?? 0);
    return { committed, failed, decided: committed + failed };
  }

  private note(r: RolloutRow, action: string, detail: Record<string, unknown>, now: number, reason?: string, kind: AuditMeta['kind'] = 'engine', actor?: Actor | null): void {
    audit(this.deps.db, action, detail, { kind, rollout: r.id, reason, at: Math.floor(now / MS), actor });
  }

  /** Rollout detail for the API: counts per state, per wave, per reason. */
  view(id: string) {
    const r = this.deps.rollouts.require(id);
    const members = this.deps.rollouts.members(id);
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
  authorize(id: string, bytes: Uint8Array, actor?: Actor | null): RolloutRow {
    const r = this.requireLive(id, 'authorize');
    const nowS = Math.floor(this.clock() / MS);
    let a;
    try {
      a = openRollback(bytes, this.deps.trust().keyDocument, nowS);
      checkRollbackCovers(a, a.component, a.target, nowS);
    } catch (err) {
      throw new WfError('ROLLBACK_INVALID', (err as Error).message);
    }
    const digest = Buffer.from(a.target).toString('hex');
    this.deps.db.transaction(() => {
      if (!this.covered(r, digest)) this.deps.rollouts.addAuthorization(id, digest, a.component, a.expires, bytes);
      for (const m of this.deps.rollouts.inState(id, 'pending')) {
        if (m.reason === 'ROLLBACK_NOT_COVERED' && m.fromDigest === digest) this.deps.rollouts.updateMember({ ...m, reason: null, detail: null, updatedMs: this.clock() });
      }
      audit(this.deps.db, 'rollout.authorized', { component: a.component, target: digest }, { kind: 'operator', rollout: id, at: nowS, actor });
    })();
    this.dirtyRollouts.add(id);
    return r;
  }
}

function sum(c: Partial<Record<MemberState, number>>, states: MemberState[]): number {
  return states.reduce((n, s) => n + (c[s] ?? 0), 0);
}

