// Rollouts and their members (docs/rollouts.md). Every query the engine runs per tick is served
// by an index over what changed (member state, deadline, assignment time), never a fleet scan.
import { WfError } from '../../protocol/errors.js';
import type { MemberState, Policy, RolloutState, Selector } from '../rollouts/model.js';
import type { Sql, SqlRunner } from './sql.js';

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

export type NewMember = Pick<MemberRow, 'deviceId' | 'state' | 'reason' | 'detail' | 'fromVersion' | 'fromDigest'> & {
  wave?: number | null;
  /** A member assigned as it joins (a deploy): its first attempt's directive and deadline. */
  assigned?: { sequence: number; atMs: number; deadlineMs: number };
};

// Members are inserted many rows per statement (a rollout's creation adds one per device). A device
// already active in another rollout hits the partial unique index: its row is not inserted (no
// error, which would end a PostgreSQL transaction), and addMembers finds it and says why.
const MEMBER_COLUMNS =
  '(rollout_id, device_id, active, state, reason, detail, wave, from_version, from_digest, joined_ms, updated_ms, attempt, sequence, assigned_ms, deadline_ms)';
const MEMBER_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** Rows per INSERT: 15 parameters each, well inside both engines' limits. */
const MEMBER_ROWS_PER_INSERT = 200;
const insertMembers = (rows: number) =>
  `INSERT INTO rollout_devices ${MEMBER_COLUMNS} VALUES ${Array.from({ length: rows }, () => MEMBER_ROW).join(', ')} ON CONFLICT DO NOTHING`;

const SQL = {
  insert: `INSERT INTO rollouts (id, created_ms, kind, module, version, manifest_digest, selector, policy, state, reason, wave,
             wave_started_ms, expires, updated_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
  get: 'SELECT * FROM rollouts WHERE id = ?',
  list: 'SELECT * FROM rollouts ORDER BY created_ms DESC, id LIMIT ?',
  live: `SELECT * FROM rollouts WHERE state IN ('draft', 'running', 'paused')`,
  update: `UPDATE rollouts SET state = ?, reason = ?, wave = ?, wave_started_ms = ?, wave_settled_ms = ?, awaiting_approval = ?,
             rate_tat_ms = ?, updated_ms = ?
           WHERE id = ?`,
  updateIfUnchanged: `UPDATE rollouts SET state = ?, reason = ?, wave = ?, wave_started_ms = ?, wave_settled_ms = ?, awaiting_approval = ?,
             rate_tat_ms = ?, updated_ms = ?
           WHERE id = ? AND updated_ms = ?`,
  insertAuth: 'INSERT INTO rollout_authorizations (rollout_id, manifest_digest, component, expires, bytes) VALUES (?, ?, ?, ?, ?)',
  auth: 'SELECT bytes, expires FROM rollout_authorizations WHERE rollout_id = ? AND manifest_digest = ?',
  authDigests: 'SELECT manifest_digest AS d FROM rollout_authorizations WHERE rollout_id = ?',

  member: 'SELECT * FROM rollout_devices WHERE rollout_id = ? AND device_id = ?',
  activeOf: 'SELECT * FROM rollout_devices WHERE device_id = ? AND active = 1',
  membersOf: 'SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id',
  // Served by rollout_devices_state (rollout_id, state, joined_ms).
  pending: `SELECT * FROM rollout_devices WHERE rollout_id = ? AND state = 'pending' AND reason IS NULL ORDER BY joined_ms, device_id LIMIT ?`,
  inState: 'SELECT * FROM rollout_devices WHERE rollout_id = ? AND state = ?',
  counts: 'SELECT state, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY state',
  waveCounts: 'SELECT state, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? AND wave = ? GROUP BY state',
  startedUpTo: 'SELECT COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? AND wave IS NOT NULL',
  // Served by the partial index rollout_devices_deadline.
  due: 'SELECT * FROM rollout_devices WHERE deadline_ms IS NOT NULL AND deadline_ms <= ? ORDER BY deadline_ms LIMIT ?',
  nextDeadline: 'SELECT MIN(deadline_ms) AS t FROM rollout_devices WHERE deadline_ms IS NOT NULL',
  updateMember: `UPDATE rollout_devices SET active = ?, state = ?, reason = ?, detail = ?, wave = ?, attempt = ?,
                   sequence = ?, assigned_ms = ?, deadline_ms = ?, updated_ms = ?
                 WHERE rollout_id = ? AND device_id = ?`,
  release: `UPDATE rollout_devices SET active = 0, deadline_ms = NULL WHERE rollout_id = ? AND state <> 'reverting'`,
  assignedTimes: 'SELECT device_id AS device, wave, assigned_ms AS at FROM rollout_devices WHERE rollout_id = ? AND assigned_ms IS NOT NULL ORDER BY assigned_ms',
} as const;

/** Every method takes the runner last: the Sql itself, or the transaction it is one step of. */
export class RolloutRepo {
  constructor(readonly sql: Sql) {}

  async insert(
    r: Omit<RolloutRow, 'reason' | 'wave' | 'waveSettledMs' | 'awaitingApproval' | 'rateTatMs' | 'updatedMs'> & { reason: string | null },
    q: SqlRunner = this.sql,
  ): Promise<void> {
    await q.run(SQL.insert, [
      r.id,
      r.createdMs,
      r.kind,
      r.module,
      r.version,
      r.manifestDigest,
      JSON.stringify(r.selector),
      JSON.stringify(r.policy),
      r.state,
      r.reason,
      r.waveStartedMs,
      r.expires,
      r.createdMs,
    ]);
  }

  async get(id: string, q: SqlRunner = this.sql): Promise<RolloutRow | undefined> {
    const row = await q.get<RawRollout>(SQL.get, [id]);
    return row ? rolloutOf(row) : undefined;
  }

  async require(id: string, q: SqlRunner = this.sql): Promise<RolloutRow> {
    const r = await this.get(id, q);
    if (!r) throw new WfError('ROLLOUT_NOT_FOUND', id);
    return r;
  }

  async list(limit = 100): Promise<RolloutRow[]> {
    return (await this.sql.all<RawRollout>(SQL.list, [limit])).map(rolloutOf);
  }

  /** Rollouts the engine still drives (a handful; never the fleet). */
  async live(q: SqlRunner = this.sql): Promise<RolloutRow[]> {
    return (await q.all<RawRollout>(SQL.live)).map(rolloutOf);
  }

  /**
   * Write the rollout's row. With `unchangedSince` (the updated_ms it was read with), only if no one
   * wrote it since — another server instance, say (docs/scale-out.md) — and false when someone did.
   */
  async update(r: RolloutRow, q: SqlRunner = this.sql, unchangedSince?: number): Promise<boolean> {
    const values = [r.state, r.reason, r.wave, r.waveStartedMs, r.waveSettledMs, r.awaitingApproval ? 1 : 0, r.rateTatMs, r.updatedMs, r.id];
    if (unchangedSince === undefined) return (await q.run(SQL.update, values)).changes === 1;
    return (await q.run(SQL.updateIfUnchanged, [...values, unchangedSince])).changes === 1;
  }

  async addAuthorization(rolloutId: string, manifestDigest: string, component: string, expires: number, bytes: Uint8Array, q: SqlRunner = this.sql): Promise<void> {
    await q.run(SQL.insertAuth, [rolloutId, manifestDigest, component, expires, bytes]);
  }

  async authorization(rolloutId: string, manifestDigest: string, q: SqlRunner = this.sql): Promise<{ bytes: Uint8Array; expires: number } | undefined> {
    const row = await q.get<{ bytes: Uint8Array; expires: number }>(SQL.auth, [rolloutId, manifestDigest]);
    return row ? { bytes: new Uint8Array(row.bytes), expires: row.expires } : undefined;
  }

  async authorizedDigests(rolloutId: string, q: SqlRunner = this.sql): Promise<string[]> {
    return (await q.all<{ d: string }>(SQL.authDigests, [rolloutId])).map((r) => r.d);
  }

  /** Add a member; a device already active elsewhere hits the unique index: ROLLOUT_CONFLICT naming that rollout. */
  addMember(rolloutId: string, m: NewMember, nowMs: number, active = true, q: SqlRunner = this.sql): Promise<void> {
    return this.addMembers(rolloutId, [{ ...m, active }], nowMs, q);
  }

  /**
   * Add members, many per statement; the first device already active elsewhere is a ROLLOUT_CONFLICT
   * naming that rollout (the caller's transaction then undoes them all).
   */
  async addMembers(rolloutId: string, members: Array<NewMember & { active: boolean }>, nowMs: number, q: SqlRunner = this.sql): Promise<void> {
    for (let i = 0; i < members.length; i += MEMBER_ROWS_PER_INSERT) {
      const batch = members.slice(i, i + MEMBER_ROWS_PER_INSERT);
      const params = batch.flatMap((m) => [
        rolloutId,
        m.deviceId,
        m.active ? 1 : 0,
        m.state,
        m.reason,
        m.detail,
        m.wave ?? null,
        m.fromVersion,
        m.fromDigest,
        nowMs,
        nowMs,
        m.assigned ? 1 : 0,
        m.assigned?.sequence ?? null,
        m.assigned?.atMs ?? null,
        m.assigned?.deadlineMs ?? null,
      ]);
      const { changes } = await q.run(insertMembers(batch.length), params);
      if (changes === batch.length) continue;
      // Which row was refused: an active device whose active membership is another rollout's.
      for (const m of batch) {
        if (!m.active) continue;
        const other = await this.activeOf(m.deviceId, q);
        if (other && other.rolloutId !== rolloutId) {
          throw new WfError('ROLLOUT_CONFLICT', `device ${m.deviceId} is in rollout ${other.rolloutId}`, { rollout: other.rolloutId, device: m.deviceId });
        }
      }
      throw new WfError('INTERNAL', `${batch.length - changes} device(s) already members of rollout ${rolloutId}`);
    }
  }

  async member(rolloutId: string, deviceId: string, q: SqlRunner = this.sql): Promise<MemberRow | undefined> {
    const row = await q.get<RawMember>(SQL.member, [rolloutId, deviceId]);
    return row ? memberOf(row) : undefined;
  }

  async activeOf(deviceId: string, q: SqlRunner = this.sql): Promise<MemberRow | undefined> {
    const row = await q.get<RawMember>(SQL.activeOf, [deviceId]);
    return row ? memberOf(row) : undefined;
  }

  async members(rolloutId: string, q: SqlRunner = this.sql): Promise<MemberRow[]> {
    return (await q.all<RawMember>(SQL.membersOf, [rolloutId])).map(memberOf);
  }

  async pending(rolloutId: string, limit: number, q: SqlRunner = this.sql): Promise<MemberRow[]> {
    return (await q.all<RawMember>(SQL.pending, [rolloutId, limit])).map(memberOf);
  }

  async inState(rolloutId: string, state: MemberState, q: SqlRunner = this.sql): Promise<MemberRow[]> {
    return (await q.all<RawMember>(SQL.inState, [rolloutId, state])).map(memberOf);
  }

  async counts(rolloutId: string, wave?: number, q: SqlRunner = this.sql): Promise<Partial<Record<MemberState, number>>> {
    const rows = await (wave === undefined ? q.all<{ state: MemberState; n: number }>(SQL.counts, [rolloutId]) : q.all<{ state: MemberState; n: number }>(SQL.waveCounts, [rolloutId, wave]));
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Members that have been given a wave (started), across waves. */
  async started(rolloutId: string, q: SqlRunner = this.sql): Promise<number> {
    return (await q.get<{ n: number }>(SQL.startedUpTo, [rolloutId]))!.n;
  }

  /** Members whose deadline has passed, oldest first. */
  async due(nowMs: number, limit: number, q: SqlRunner = this.sql): Promise<MemberRow[]> {
    return (await q.all<RawMember>(SQL.due, [nowMs, limit])).map(memberOf);
  }

  async nextDeadline(q: SqlRunner = this.sql): Promise<number | null> {
    return (await q.get<{ t: number | null }>(SQL.nextDeadline))?.t ?? null;
  }

  async updateMember(m: MemberRow, q: SqlRunner = this.sql): Promise<void> {
    await q.run(SQL.updateMember, [m.active ? 1 : 0, m.state, m.reason, m.detail, m.wave, m.attempt, m.sequence, m.assignedMs, m.deadlineMs, m.updatedMs, m.rolloutId, m.deviceId]);
  }

  /** The rollout no longer drives its members (except those it is still rolling back). */
  async releaseMembers(rolloutId: string, q: SqlRunner = this.sql): Promise<void> {
    await q.run(SQL.release, [rolloutId]);
  }

  /** When each member was started: the rate cap measured from the store. */
  assignmentTimes(rolloutId: string, q: SqlRunner = this.sql): Promise<Array<{ device: string; wave: number; at: number }>> {
    return q.all(SQL.assignedTimes, [rolloutId]);
  }
}
