// The console's read queries (docs/console.md), written for fleet size: counts are grouped in SQL,
// pages are keyset-paginated in id order, nothing loads every device or every rollout member.
// Filters match the stored JSON text exactly: REPLACE(col, needle, '') <> col is "contains
// needle", case-sensitive on SQLite and PostgreSQL alike (LIKE is not: SQLite's ignores case).
import { compareVersions } from '../../protocol/semver.js';
import type {
  AdoptionView,
  DevicePageView,
  DeviceRowView,
  FleetSummaryView,
  RolloutFailureView,
  RolloutLiveView,
  RunningView,
} from '../../protocol/views.js';
import { WfError } from '../../protocol/errors.js';
import { FINAL_ROLLOUT_STATES, FAILURE_STATES, waveCap, type Policy, type RolloutState } from '../rollouts/model.js';
import type { AuditEntry } from './db.js';
import type { Sql, SqlValue } from './sql.js';

export const HOST_KINDS = ['v8', 'wasm3', 'wamr'] as const;

export interface DeviceFilter {
  /** Substring of the id. */
  q?: string;
  /** Every key=value must be among the device's tags. */
  tags?: Record<string, string>;
  state?: string;
  /** module@version the device runs. */
  release?: string;
  host?: (typeof HOST_KINDS)[number];
  online?: boolean;
}

export interface AuditFilter {
  rollout?: string;
  action?: string;
  /** Operator token id. */
  actor?: string;
  since?: number;
  until?: number;
  after?: number;
  before?: number;
  order: 'asc' | 'desc';
  limit: number;
}

const FAILURES_SHOWN = 100;

/** LIKE with '!' as the escape character: the text matches itself, nothing else. */
const likeEscape = (s: string) => s.replace(/[!%_]/g, (c) => `!${c}`);

const releaseOf = (r: RunningView) => `${r.component}@${r.version}`;

/** "module@version" → the exact JSON text of that running entry's start (see runningView). */
function releaseNeedle(release: string): string {
  const at = release.lastIndexOf('@');
  if (at <= 0 || at === release.length - 1) throw new WfError('REQUEST_INVALID', `querystring/release "${release}": expected module@version`);
  return `"component":${JSON.stringify(release.slice(0, at))},"version":${JSON.stringify(release.slice(at + 1))},`;
}

function deviceWhere(f: DeviceFilter): { sql: string; params: SqlValue[] } {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (f.q) {
    parts.push("id LIKE ? ESCAPE '!'");
    params.push(`%${likeEscape(f.q)}%`);
  }
  for (const [k, v] of Object.entries(f.tags ?? {})) {
    parts.push("REPLACE(tags, ?, '') <> tags");
    params.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  }
  if (f.state) {
    parts.push('state = ?');
    params.push(f.state);
  }
  if (f.release) {
    parts.push("REPLACE(running, ?, '') <> running");
    params.push(releaseNeedle(f.release));
  }
  if (f.host) {
    parts.push('host_kind = ?');
    params.push(f.host);
  }
  if (f.online !== undefined) {
    parts.push('online = ?');
    params.push(f.online ? 1 : 0);
  }
  return { sql: parts.join(' AND '), params };
}

interface DeviceRow {
  id: string;
  tags: string;
  online: number;
  last_seen: number | null;
  state: string;
  reason: string | null;
  host_kind: string | null;
  running: string;
  last_error: string | null;
}

function rowView(r: DeviceRow): DeviceRowView {
  let lastError: DeviceRowView['lastError'] = null;
  if (r.last_error) {
    // Stored as "<REASON>" or "<REASON>: <detail>" (store/devices.ts recordReport).
    const cut = r.last_error.indexOf(': ');
    lastError = cut < 0 ? { code: r.last_error, detail: null } : { code: r.last_error.slice(0, cut), detail: r.last_error.slice(cut + 2) };
  }
  return {
    id: r.id,
    tags: JSON.parse(r.tags) as Record<string, string>,
    online: r.online === 1,
    lastSeen: r.last_seen,
    state: r.state,
    reason: r.reason,
    host: r.host_kind,
    running: JSON.parse(r.running) as RunningView[],
    lastError,
  };
}

export class ConsoleQueries {
  constructor(private readonly sql: Sql) {}

  // ---------------------------------------------------------------- fleet

  async fleet(nowMs: number): Promise<FleetSummaryView> {
    // One pass over the index devices_summary (no table rows read); fleets repeat what they run,
    // so the groups are few and each running text is parsed once.
    const groups = await this.sql.all<{ state: string; online: number; host_kind: string | null; running: string; n: number }>(
      'SELECT state, online, host_kind, running, COUNT(*) AS n FROM devices GROUP BY state, online, host_kind, running',
    );
    const byState: Record<string, number> = {};
    const byHost: Record<string, number> = {};
    const releases = new Map<string, { module: string; version: string; devices: number }>();
    const parsed = new Map<string, RunningView[]>();
    let online = 0;
    let devices = 0;
    for (const g of groups) {
      devices += g.n;
      if (g.online === 1) online += g.n;
      byState[g.state] = (byState[g.state] ?? 0) + g.n;
      const host = g.host_kind ?? 'unknown';
      byHost[host] = (byHost[host] ?? 0) + g.n;
      let running = parsed.get(g.running);
      if (!running) parsed.set(g.running, (running = JSON.parse(g.running) as RunningView[]));
      for (const c of running) {
        const key = releaseOf(c);
        const e = releases.get(key) ?? { module: c.component, version: c.version, devices: 0 };
        e.devices += g.n;
        releases.set(key, e);
      }
    }
    const modules = await this.sql.all<{ component: string }>('SELECT DISTINCT component FROM commits ORDER BY component');
    return {
      devices,
      online,
      offline: devices - online,
      byState,
      byRelease: [...releases.entries()]
        .map(([release, e]) => ({ release, ...e }))
        .sort((a, b) => b.devices - a.devices || (a.release < b.release ? -1 : 1)),
      byHost,
      adoptionModules: modules.map((m) => m.component),
      at: nowMs,
    };
  }

  /**
   * Devices per version of a module over time: at each of `points` instants, how many devices'
   * latest commit of the module (at or before it) was each version. SQL turns each commit into a
   * move (from the device's previous version to this one) and sums the moves per bucket, so only a
   * few rows reach JS whatever the fleet size (index commits_component gives the per-device order).
   */
  async adoption(module: string, points: number, nowS: number, since?: number): Promise<AdoptionView> {
    const first = await this.sql.get<{ at: number | null }>('SELECT MIN(at) AS at FROM commits WHERE component = ?', [module]);
    const from = since ?? first?.at ?? nowS;
    const to = Math.max(nowS, from + 1);
    const bucket = Math.max(1, Math.ceil((to - from) / (points - 1)));
    // A commit at `at` first counts at point k = ceil((at - from) / bucket), 0 for anything before
    // `from`. The casts keep the division integral (a bound JS number is a REAL to SQLite).
    const moves = await this.sql.all<{ k: number; version: string; prev: string | null; n: number }>(
      `SELECT k, version, prev, COUNT(*) AS n FROM (
         SELECT CASE WHEN at <= ? THEN 0 ELSE (at - CAST(? AS INTEGER) + CAST(? AS INTEGER) - 1) / CAST(? AS INTEGER) END AS k, version,
                LAG(version) OVER (PARTITION BY device_id ORDER BY at, sequence) AS prev
           FROM commits WHERE component = ? AND at <= ?
       ) moves WHERE prev IS NULL OR prev <> version GROUP BY k, version, prev ORDER BY k`,
      [from, from, bucket, bucket, module, to],
    );
    const counts = new Map<string, number>();
    const versions = new Set<string>();
    const out: AdoptionView['points'] = [];
    let i = 0;
    for (let k = 0; k < points; k++) {
      const t = Math.min(to, from + k * bucket);
      for (; i < moves.length && moves[i].k <= k; i++) {
        const m = moves[i];
        if (m.prev !== null) counts.set(m.prev, (counts.get(m.prev) ?? 0) - m.n);
        counts.set(m.version, (counts.get(m.version) ?? 0) + m.n);
        versions.add(m.version);
      }
      const snapshot: Record<string, number> = {};
      for (const [v, n] of counts) if (n > 0) snapshot[v] = n;
      out.push({ at: t, counts: snapshot });
      if (t >= to) break;
    }
    return { module, from, to, bucketSeconds: bucket, versions: [...versions].sort(safeCompare), points: out };
  }

  // ---------------------------------------------------------------- devices

  /** One page in id order after `cursor`, with the total matching the filter. */
  async devicePage(f: DeviceFilter, cursor: string | undefined, limit: number): Promise<DevicePageView> {
    const where = deviceWhere(f);
    const pageWhere = [where.sql, cursor !== undefined ? 'id > ?' : ''].filter(Boolean).join(' AND ');
    const rows = await this.sql.all<DeviceRow>(
      `SELECT id, tags, online, last_seen, state, reason, host_kind, running, last_error FROM devices${pageWhere ? ` WHERE ${pageWhere}` : ''} ORDER BY id LIMIT ?`,
      [...where.params, ...(cursor !== undefined ? [cursor] : []), limit + 1],
    );
    const total = await this.sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM devices${where.sql ? ` WHERE ${where.sql}` : ''}`, where.params);
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    return { devices: page.map(rowView), total: total?.n ?? 0, nextCursor: more ? page[page.length - 1].id : null };
  }

  // ---------------------------------------------------------------- rollouts

  /** The live view of a rollout from grouped counts; undefined when there is no such rollout. */
  async rolloutLive(id: string, nowMs: number): Promise<RolloutLiveView | undefined> {
    const r = await this.sql.get<{
      id: string;
      kind: string;
      module: string;
      version: string;
      state: string;
      reason: string | null;
      wave: number;
      awaiting_approval: number;
      created_ms: number;
      updated_ms: number;
      expires: number;
      selector: string;
      policy: string;
      wave_started_ms: number | null;
      wave_settled_ms: number | null;
    }>(
      `SELECT id, kind, module, version, state, reason, wave, awaiting_approval, created_ms, updated_ms, expires, selector, policy,
              wave_started_ms, wave_settled_ms FROM rollouts WHERE id = ?`,
      [id],
    );
    if (!r) return undefined;
    const policy = JSON.parse(r.policy) as Policy;
    const groups = await this.sql.all<{ wave: number | null; state: string; reason: string | null; n: number }>(
      'SELECT wave, state, reason, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY wave, state, reason',
      [id],
    );
    const states: Record<string, number> = {};
    const reasons = new Map<string, { state: string; reason: string; devices: number }>();
    const waveStates = policy.waves.map(() => ({}) as Record<string, number>);
    let devices = 0;
    for (const g of groups) {
      devices += g.n;
      states[g.state] = (states[g.state] ?? 0) + g.n;
      if (g.reason !== null) {
        const key = `${g.state}\u0000${g.reason}`;
        const e = reasons.get(key) ?? { state: g.state, reason: g.reason, devices: 0 };
        e.devices += g.n;
        reasons.set(key, e);
      }
      if (g.wave !== null && waveStates[g.wave]) waveStates[g.wave][g.state] = (waveStates[g.wave][g.state] ?? 0) + g.n;
    }
    const eligible = devices - (states.excluded ?? 0);
    const failureStates = FAILURE_STATES as readonly string[];
    const failed = await this.sql.all<{ device_id: string; state: string; reason: string | null; detail: string | null; wave: number | null; updated_ms: number }>(
      `SELECT device_id, state, reason, detail, wave, updated_ms FROM rollout_devices WHERE rollout_id = ? AND state IN (${failureStates.map(() => '?').join(', ')})
        ORDER BY updated_ms DESC, device_id LIMIT ?`,
      [id, ...failureStates, FAILURES_SHOWN],
    );
    const failures: RolloutFailureView[] = failed.map((m) => ({ device: m.device_id, state: m.state, reason: m.reason, detail: m.detail, wave: m.wave === null ? null : m.wave + 1, updatedMs: m.updated_ms }));
    const final = FINAL_ROLLOUT_STATES.includes(r.state as RolloutState) && !states.reverting;
    return {
      id: r.id,
      kind: r.kind,
      module: r.module,
      version: r.version,
      state: r.state,
      reason: r.reason,
      wave: r.wave + 1,
      waveCount: policy.waves.length,
      awaitingApproval: r.awaiting_approval === 1,
      createdMs: r.created_ms,
      updatedMs: r.updated_ms,
      expires: r.expires,
      selector: JSON.parse(r.selector) as Record<string, unknown>,
      policy: policy as unknown as Record<string, unknown>,
      waveStartedMs: r.wave_started_ms,
      waveSettledMs: r.wave_settled_ms,
      soakEndsMs: r.wave_settled_ms === null ? null : r.wave_settled_ms + policy.soakSeconds * 1000,
      devices,
      states,
      reasons: [...reasons.values()].sort((a, b) => b.devices - a.devices),
      waves: policy.waves.map((spec, k) => ({ wave: k + 1, spec, cap: waveCap(policy.waves, k, eligible), states: waveStates[k] })),
      failures,
      failuresTotal: failureStates.reduce((n, s) => n + (states[s] ?? 0), 0),
      final,
      at: nowMs,
    };
  }

  // ---------------------------------------------------------------- audit

  async audit(f: AuditFilter): Promise<AuditEntry[]> {
    const parts: string[] = [];
    const params: SqlValue[] = [];
    const add = (sql: string, ...values: SqlValue[]) => {
      parts.push(sql);
      params.push(...values);
    };
    if (f.rollout !== undefined) add('rollout_id = ?', f.rollout);
    if (f.action !== undefined) add('action = ?', f.action);
    // The actor column is "<token id> <token name>": a range on the id prefix uses the index.
    if (f.actor !== undefined) add('actor >= ? AND actor < ?', `${f.actor} `, `${f.actor}!`);
    if (f.since !== undefined) add('at >= ?', f.since);
    if (f.until !== undefined) add('at <= ?', f.until);
    if (f.after !== undefined) add('id > ?', f.after);
    if (f.before !== undefined) add('id < ?', f.before);
    const rows = await this.sql.all<{ id: number; at: number; action: string; kind: string; rollout_id: string | null; reason: string | null; actor: string | null; detail: string }>(
      `SELECT id, at, action, kind, rollout_id, reason, actor, detail FROM audit${parts.length ? ` WHERE ${parts.join(' AND ')}` : ''}
        ORDER BY id ${f.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`,
      [...params, f.limit],
    );
    return rows.map((r) => ({ id: r.id, at: r.at, action: r.action, kind: r.kind, rollout: r.rollout_id, reason: r.reason, actor: r.actor, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }
}

/** Semver order, with anything that is not a version after the versions, by text. */
function safeCompare(a: string, b: string): number {
  try {
    return compareVersions(a, b);
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}
