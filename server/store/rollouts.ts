// Rollouts and their members (docs/rollouts.md). Every query the engine runs per tick is served
// by an index over what changed (member state, deadline, assignment time), never a fleet scan.
import { WfError } from '../../protocol/errors.js';
import type { MemberState, Policy, RolloutState, Selector } from '../rollouts/model.js';
import type { Db } from './db.js';

export interface RolloutRow {
  id: string;
  createdMs: number;
  kind: 'rollout' | 'deploy' | 'rollback';
  module: string;
  version: string;
  manifestDigest: string;
  selector: Selector;
  policy: Policy;
  state: RolloutState;
  reason: string | null;
  wave: number;
  waveStartedMs: number | null;
  waveSettledMs: number | null;
  awaitingApproval: boolean;
  rateTatMs: number;
  expires: number;
  updatedMs: number;
}

export interface MemberRow {
  rolloutId: string;
  deviceId: string;
  active: boolean;
  state: MemberState;
  reason: string | null;
  detail: string | null;
  wave: number | null;
  attempt: number;
  sequence: number | null;
  assignedMs: number | null;
  deadlineMs: number | null;
  fromVersion: string | null;
  fromDigest: string | null;
  joinedMs: number;
  updatedMs: number;
}

interface RawRollout {
  id: string;
  created_ms: number;
  kind: string;
  module: string;
  version: string;
  manifest_digest: string;
  selector: string;
  policy: string;
  state: string;
  reason: string | null;
  wave: number;
  wave_started_ms: number | null;
  wave_settled_ms: number | null;
  awaiting_approval: number;
  rate_tat_ms: number;
  expires: number;
  updated_ms: number;
}

interface RawMember {
  rollout_id: string;
  device_id: string;
  active: number;
  state: string;
  reason: string | null;
  detail: string | null;
  wave: number | null;
  attempt: number;
  sequence: number | null;
  assigned_ms: number | null;
  deadline_ms: number | null;
  from_version: string | null;
  from_digest: string | null;
  joined_ms: number;
  updated_ms: number;
}

const rolloutOf = (r: RawRollout): RolloutRow => ({
  id: r.id,
  createdMs: r.created_ms,
  kind: r.kind as RolloutRow['kind'],
  module: r.module,
  version: r.version,
  manifestDigest: r.manifest_digest,
  selector: JSON.parse(r.selector) as Selector,
  policy: JSON.parse(r.policy) as Policy,
  state: r.state as RolloutState,
  reason: r.reason,
  wave: r.wave,
  waveStartedMs: r.wave_started_ms,
  waveSettledMs: r.wave_settled_ms,
  awaitingApproval: r.awaiting_approval === 1,
  rateTatMs: r.rate_tat_ms,
  expires: r.expires,
  updatedMs: r.updated_ms,
});

const memberOf = (r: RawMember): MemberRow => ({
  rolloutId: r.rollout_id,
  deviceId: r.device_id,
  active: r.active === 1,
  state: r.state as MemberState,
  reason: r.reason,
  detail: r.detail,
  wave: r.wave,
  attempt: r.attempt,
  sequence: r.sequence,
  assignedMs: r.assigned_ms,
  deadlineMs: r.deadline_ms,
  fromVersion: r.from_version,
  fromDigest: r.from_digest,
  joinedMs: r.joined_ms,
  updatedMs: r.updated_ms,
});

export type NewMember = Pick<MemberRow, 'deviceId' | 'state' | 'reason' | 'detail' | 'fromVersion' | 'fromDigest'> & { wave?: number | null };

export class RolloutRepo {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO rollouts (id, created_ms, kind, module, version, manifest_digest, selector, policy, state, reason, wave,
           wave_started_ms, expires, updated_ms)
         VALUES (@id, @createdMs, @kind, @module, @version, @manifestDigest, @selector, @policy, @state, @reason, 0, @waveStartedMs, @expires, @createdMs)`,
      ),
      get: db.prepare('SELECT * FROM rollouts WHERE id = ?'),
      list: db.prepare('SELECT * FROM rollouts ORDER BY created_ms DESC, id LIMIT ?'),
      live: db.prepare(`SELECT * FROM rollouts WHERE state IN ('draft', 'running', 'paused')`),
      update: db.prepare(
        `UPDATE rollouts SET state = @state, reason = @reason, wave = @wave, wave_started_ms = @waveStartedMs,
           wave_settled_ms = @waveSettledMs, awaiting_approval = @awaitingApproval, rate_tat_ms = @rateTatMs, updated_ms = @updatedMs
         WHERE id = @id`,
      ),
      insertAuth: db.prepare('INSERT INTO rollout_authorizations (rollout_id, manifest_digest, component, expires, bytes) VALUES (?, ?, ?, ?, ?)'),
      auth: db.prepare('SELECT bytes, expires FROM rollout_authorizations WHERE rollout_id = ? AND manifest_digest = ?'),
      authDigests: db.prepare('SELECT manifest_digest AS d FROM rollout_authorizations WHERE rollout_id = ?'),
      insertMember: db.prepare(
        `INSERT INTO rollout_devices (rollout_id, device_id, active, state, reason, detail, wave, from_version, from_digest, joined_ms, updated_ms)
         VALUES (@rolloutId, @deviceId, @active, @state, @reason, @detail, @wave, @fromVersion, @fromDigest, @now, @now)`,
      ),
      member: db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? AND device_id = ?'),
      activeOf: db.prepare('SELECT * FROM rollout_devices WHERE device_id = ? AND active = 1'),
      membersOf: db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id'),
      pending: db.prepare(
        `SELECT * FROM rollout_devices INDEXED BY rollout_devices_state WHERE rollout_id = ? AND state = 'pending' AND reason IS NULL ORDER BY joined_ms, device_id LIMIT ?`,
      ),
      inState: db.prepare(`SELECT * FROM rollout_devices INDEXED BY rollout_devices_state WHERE rollout_id = ? AND state = ?`),
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY state'),
      waveCounts: db.prepare('SELECT state, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? AND wave = ? GROUP BY state'),
      startedUpTo: db.prepare('SELECT COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? AND wave IS NOT NULL'),
      due: db.prepare(
        `SELECT * FROM rollout_devices INDEXED BY rollout_devices_deadline WHERE deadline_ms IS NOT NULL AND deadline_ms <= ? ORDER BY deadline_ms LIMIT ?`,
      ),
      nextDeadline: db.prepare('SELECT MIN(deadline_ms) AS t FROM rollout_devices WHERE deadline_ms IS NOT NULL'),
      updateMember: db.prepare(
        `UPDATE rollout_devices SET active = @active, state = @state, reason = @reason, detail = @detail, wave = @wave, attempt = @attempt,
           sequence = @sequence, assigned_ms = @assignedMs, deadline_ms = @deadlineMs, updated_ms = @updatedMs
         WHERE rollout_id = @rolloutId AND device_id = @deviceId`,
      ),
      release: db.prepare(`UPDATE rollout_devices SET active = 0, deadline_ms = NULL WHERE rollout_id = ? AND state != 'reverting'`),
      assignedTimes: db.prepare('SELECT device_id AS device, wave, assigned_ms AS at FROM rollout_devices WHERE rollout_id = ? AND assigned_ms IS NOT NULL ORDER BY assigned_ms'),
    };
  }

  insert(r: Omit<RolloutRow, 'reason' | 'wave' | 'waveSettledMs' | 'awaitingApproval' | 'rateTatMs' | 'updatedMs'> & { reason: string | null }): void {
    this.s.insert.run({ ...r, selector: JSON.stringify(r.selector), policy: JSON.stringify(r.policy) });
  }

  get(id: string): RolloutRow | undefined {
    const row = this.s.get.get(id) as RawRollout | undefined;
    return row ? rolloutOf(row) : undefined;
  }

  require(id: string): RolloutRow {
    const r = this.get(id);
    if (!r) throw new WfError('ROLLOUT_NOT_FOUND', id);
    return r;
  }

  list(limit = 100): RolloutRow[] {
    return (this.s.list.all(limit) as RawRollout[]).map(rolloutOf);
  }

  /** Rollouts the engine still drives (a handful; never the fleet). */
  live(): RolloutRow[] {
    return (this.s.live.all() as RawRollout[]).map(rolloutOf);
  }

  update(r: RolloutRow): void {
    this.s.update.run({ ...r, awaitingApproval: r.awaitingApproval ? 1 : 0 });
  }

  addAuthorization(rolloutId: string, manifestDigest: string, component: string, expires: number, bytes: Uint8Array): void {
    this.s.insertAuth.run(rolloutId, manifestDigest, component, expires, Buffer.from(bytes));
  }

  authorization(rolloutId: string, manifestDigest: string): { bytes: Uint8Array; expires: number } | undefined {
    const row = this.s.auth.get(rolloutId, manifestDigest) as { bytes: Buffer; expires: number } | undefined;
    return row ? { bytes: new Uint8Array(row.bytes), expires: row.expires } : undefined;
  }

  authorizedDigests(rolloutId: string): string[] {
    return (this.s.authDigests.all(rolloutId) as Array<{ d: string }>).map((r) => r.d);
  }

  /** Add a member; a device already active elsewhere hits the unique index: ROLLOUT_CONFLICT naming that rollout. */
  addMember(rolloutId: string, m: NewMember, nowMs: number, active = true): void {
    try {
      this.s.insertMember.run({ rolloutId, wave: null, ...m, active: active ? 1 : 0, now: nowMs });
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const other = this.activeOf(m.deviceId);
        throw new WfError('ROLLOUT_CONFLICT', `device ${m.deviceId} is in rollout ${other?.rolloutId ?? '?'}`, { rollout: other?.rolloutId, device: m.deviceId });
      }
      throw err;
    }
  }

  member(rolloutId: string, deviceId: string): MemberRow | undefined {
    const row = this.s.member.get(rolloutId, deviceId) as RawMember | undefined;
    return row ? memberOf(row) : undefined;
  }

  activeOf(deviceId: string): MemberRow | undefined {
    const row = this.s.activeOf.get(deviceId) as RawMember | undefined;
    return row ? memberOf(row) : undefined;
  }

  members(rolloutId: string): MemberRow[] {
    return (this.s.membersOf.all(rolloutId) as RawMember[]).map(memberOf);
  }

  pending(rolloutId: string, limit: number): MemberRow[] {
    return (this.s.pending.all(rolloutId, limit) as RawMember[]).map(memberOf);
  }

  inState(rolloutId: string, state: MemberState): MemberRow[] {
    return (this.s.inState.all(rolloutId, state) as RawMember[]).map(memberOf);
  }

  counts(rolloutId: string, wave?: number): Partial<Record<MemberState, number>> {
    const rows = (wave === undefined ? this.s.counts.all(rolloutId) : this.s.waveCounts.all(rolloutId, wave)) as Array<{ state: MemberState; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Members that have been given a wave (started), across waves. */
  started(rolloutId: string): number {
    return (this.s.startedUpTo.get(rolloutId) as { n: number }).n;
  }

  /** Members whose deadline has passed, oldest first. */
  due(nowMs: number, limit: number): MemberRow[] {
    return (this.s.due.all(nowMs, limit) as RawMember[]).map(memberOf);
  }

  nextDeadline(): number | null {
    return (this.s.nextDeadline.get() as { t: number | null }).t;
  }

  updateMember(m: MemberRow): void {
    this.s.updateMember.run({ ...m, active: m.active ? 1 : 0 });
  }

  /** The rollout no longer drives its members (except those it is still rolling back). */
  releaseMembers(rolloutId: string): void {
    this.s.release.run(rolloutId);
  }

  /** When each member was started: the rate cap measured from the store. */
  assignmentTimes(rolloutId: string): Array<{ device: string; wave: number; at: number }> {
    return this.s.assignedTimes.all(rolloutId) as Array<{ device: string; wave: number; at: number }>;
  }
}
