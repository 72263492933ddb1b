// Device inventory: credentials, tags, and what the device last said (hello, online, report).
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { Hello, Report, RunningComponent } from '../../protocol/messages.js';
import { IN_FLIGHT_STATES, type DeviceState } from '../../protocol/states.js';
import { toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { isReservedDeviceId, PATTERNS } from '../../protocol/fields.js';
import type { DeviceView, RunningView } from '../../protocol/views.js';
import { StoreCache } from './cache.js';
import { nowSeconds } from './db.js';
import { inTx, type Sql, type SqlRunner } from './sql.js';
import type { TelemetryBatch } from './telemetry.js';

export type { DeviceView, RunningView } from '../../protocol/views.js';

/** The part of a device that selectors and pre-flight read. */
export type DeviceFacts = Pick<DeviceView, 'id' | 'tags' | 'hello' | 'running'>;

interface DeviceRow {
  id: string;
  token_hash: string;
  tags: string;
  created_at: number;
  online: number;
  last_seen: number | null;
  hello: string | null;
  state: string;
  reason: string | null;
  detail: string | null;
  sequence: number;
  target_sequence: number | null;
  running: string;
  progress_bytes: number | null;
  progress_total: number | null;
  last_error: string | null;
  cert_serial: string | null;
  cert_not_after: number | null;
  revoked_at: number | null;
}

export interface Credentials {
  id: string;
  username: string;
  /** Absent for a device that authenticates with a client certificate. */
  password?: string;
}

/** A certificate issued for a device (the certificate itself is handed to the operator, not stored). */
export interface IssuedCert {
  serial: string;
  notAfter: number;
}

interface CredentialRow {
  token_hash: string;
  cert_serial: string | null;
  revoked_at: number | null;
}

/** Why a device's certificate is refused (null: accepted). */
export type CertVerdict = null | 'DEVICE_NOT_FOUND' | 'DEVICE_REVOKED' | 'CERT_REVOKED';

// Tokens are 32 random bytes: a fast hash is enough to store them (no password guessing possible).
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newPassword = () => randomBytes(32).toString('base64url');

export function runningView(r: RunningComponent[]): RunningView[] {
  return r.map((c) => ({ component: c.component, version: c.version, manifestDigest: toHex(c.manifestDigest) }));
}

function toView(row: DeviceRow): DeviceView {
  return {
    id: row.id,
    tags: JSON.parse(row.tags) as Record<string, string>,
    createdAt: row.created_at,
    online: row.online === 1,
    lastSeen: row.last_seen,
    hello: row.hello ? (JSON.parse(row.hello) as DeviceView['hello']) : null,
    state: row.state,
    reason: row.reason,
    detail: row.detail,
    sequence: row.sequence,
    targetSequence: row.target_sequence,
    running: JSON.parse(row.running) as RunningView[],
    progress: row.progress_total !== null ? { bytes: row.progress_bytes ?? 0, total: row.progress_total } : null,
    lastError: row.last_error,
    credential: row.cert_serial ? 'certificate' : 'password',
    certSerial: row.cert_serial,
    certNotAfter: row.cert_not_after,
    revokedAt: row.revoked_at,
  };
}

export function validateTags(tags: Record<string, string>): void {
  for (const [k, v] of Object.entries(tags)) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k) || typeof v !== 'string' || v.length > 128) {
      throw new WfError('REQUEST_INVALID', `tag "${k}": keys are [A-Za-z0-9_.-]{1,64}, values up to 128 characters`);
    }
  }
}

const SQL = {
  insert: 'INSERT INTO devices (id, token_hash, tags, created_at, cert_serial, cert_not_after) VALUES (?, ?, ?, ?, ?, ?)',
  setCredentials: 'UPDATE devices SET token_hash = ?, cert_serial = ?, cert_not_after = ? WHERE id = ?',
  revoke: "UPDATE devices SET token_hash = '', cert_serial = NULL, revoked_at = ? WHERE id = ?",
  revokeSerial: 'INSERT INTO revoked_certs (serial, device_id, revoked_at) VALUES (?, ?, ?) ON CONFLICT (serial) DO NOTHING',
  revokedSerials: 'SELECT serial, device_id AS "deviceId", revoked_at AS "revokedAt" FROM revoked_certs ORDER BY revoked_at',
  get: 'SELECT * FROM devices WHERE id = ?',
  exists: 'SELECT id FROM devices WHERE id = ?',
  all: 'SELECT * FROM devices ORDER BY id',
  credentials: 'SELECT token_hash, cert_serial, revoked_at FROM devices WHERE id = ?',
  hello: 'UPDATE devices SET hello = ?, host_kind = ?, last_seen = ? WHERE id = ?',
  online: 'UPDATE devices SET online = ?, last_seen = ? WHERE id = ?',
  setTags: 'UPDATE devices SET tags = ? WHERE id = ?',
  // last_error keeps its value unless this report names a failure.
  report: `UPDATE devices SET state = ?, reason = ?, detail = ?, sequence = ?, target_sequence = ?, running = ?,
             progress_bytes = ?, progress_total = ?, report_time = ?, last_seen = ?, last_error = COALESCE(?, last_error)
           WHERE id = ?`,
  commit:
    'INSERT INTO commits (device_id, sequence, component, version, manifest_digest, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, sequence, component) DO NOTHING',
  telemetryOf: 'SELECT name, value, at FROM telemetry WHERE device_id = ? ORDER BY name',
  commitsOf: 'SELECT sequence, component, version, manifest_digest AS "manifestDigest", at FROM commits WHERE device_id = ? ORDER BY sequence DESC',
  scan: 'SELECT id, tags, hello, running FROM devices ORDER BY id',
} as const;

/** Update steps between a directive and its outcome: batched (see DeviceRepo.pendingProgress). */
const isInFlight = (s: string) => IN_FLIGHT_STATES.includes(s as DeviceState);

/** In-flight reports wait at most this long in memory before reaching the store. */
export const PROGRESS_FLUSH_MS = 500;
const PROGRESS_MAX_PENDING = 2000;
/**
 * Outcome reports arriving within this window share one transaction (measured in the bench:
 * a thousand devices commit within a second or two; one transaction each cost ~0.4 ms of CPU apiece).
 */
export const OUTCOME_WINDOW_MS = 20;
const OUTCOME_MAX_PENDING = 1000;

/**
 * Writes that ride along in the report batches' transactions (the device history,
 * store/device-events.ts): written before the batch's outcomes are acknowledged.
 */
export interface ReportBatchRider {
  /** Anything to write (a batch with nothing of its own still writes the rider's rows). */
  hasPending(): boolean;
  /** Write what is pending through `q` (one step of the batch's transaction). */
  writePending(q: SqlRunner): Promise<void>;
  /** The batch's transaction failed: what it took is lost (logged by the rider). */
  batchFailed(err: unknown): void;
}

export interface DeviceRepoOptions {
  progressFlushMs?: number;
  outcomeWindowMs?: number;
  rider?: ReportBatchRider;
}

interface PendingOutcome {
  id: string;
  r: Report;
  now: number;
}

/** The outcomes of one window and the promise their reporters wait on. */
class OutcomeBatch {
  readonly items: PendingOutcome[] = [];
  /** Latest per device, for reads before the batch is written. */
  readonly latest = new Map<string, PendingOutcome>();
  /** A write that will take this batch is queued already. */
  flushQueued = false;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A batch nobody awaits any more (its reporters gone) must not become an unhandled rejection.
    this.done.catch(() => {});
  }
}

const byDeviceId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class DeviceRepo {
  /**
   * Credentials by device id: every MQTT connect and message asks, so they are cached.
   * Invalidated by revoke and rotate here, and by `credentials.invalidate(id)` from outside.
   */
  readonly credentials: StoreCache<string, CredentialRow>;
  /**
   * In-flight reports (assigned, downloading with byte counts, verifying, installing, probation)
   * are most of a device's reports and the rollout engine acts on none of them. Only the latest per
   * device waits here and reaches the store in one transaction every PROGRESS_FLUSH_MS
   * (store/telemetry.ts is the model). Final states (committed, failed, rolled_back, idle) and
   * `stale` are gathered for OUTCOME_WINDOW_MS and written together, in arrival order, in one
   * transaction; `recordReport` resolves once its outcome is stored, so it is durable before the
   * rollout engine hears of it. A server killed meanwhile loses at most the last in-flight step,
   * superseded by the device's next report. Reads (the API) overlay both.
   */
  private pendingProgress = new Map<string, { r: Report; now: number }>();
  private readonly progressTimer: NodeJS.Timeout;
  private outcomes: OutcomeBatch | null = null;
  private outcomeTimer: NodeJS.Timeout | null = null;
  /** A flush for a full in-flight map is queued already. */
  private progressFlushQueued = false;
  /**
   * Every batch write runs after the one before it: on PostgreSQL they would run on separate
   * connections and could land out of order (an older in-flight step over a newer outcome).
   */
  private writing: Promise<void> = Promise.resolve();
  private readonly outcomeWindowMs: number;
  private readonly rider?: ReportBatchRider;
  private closed = false;
  /** Several instances: tell the others to forget a device's cached credentials (server/cluster/cluster.ts). */
  onCredentialsChanged?: (id: string) => void;

  constructor(
    private readonly sql: Sql,
    private readonly telemetryBatch: TelemetryBatch,
    opts: DeviceRepoOptions = {},
  ) {
    this.outcomeWindowMs = opts.outcomeWindowMs ?? OUTCOME_WINDOW_MS;
    this.rider = opts.rider;
    this.progressTimer = setInterval(() => void this.flushProgress().catch(() => {}), opts.progressFlushMs ?? PROGRESS_FLUSH_MS);
    this.progressTimer.unref();
    this.credentials = new StoreCache((id) => this.sql.get<CredentialRow>(SQL.credentials, [id]));
  }

  /** Refuse ids that cannot be created, before any work is done for them (a certificate, say). */
  async checkNew(devices: Array<{ id: string; tags?: Record<string, string> }>, q: SqlRunner = this.sql): Promise<void> {
    const seen = new Set<string>();
    for (const d of devices) {
      if (!PATTERNS.deviceId.test(d.id)) throw new WfError('DEVICE_ID_INVALID', `"${d.id}": use 1-64 of [A-Za-z0-9_-]`);
      if (isReservedDeviceId(d.id)) throw new WfError('DEVICE_ID_RESERVED', `"${d.id}": ids starting with "wasmfleet" belong to the server`);
      validateTags(d.tags ?? {});
      if (seen.has(d.id) || (await q.get(SQL.exists, [d.id]))) throw new WfError('DEVICE_EXISTS', d.id);
      seen.add(d.id);
    }
  }

  /**
   * Create devices, all or none: each with a fresh password, or (when `cert` is given for it)
   * with the client certificate issued for it and no password at all.
   */
  async create(devices: Array<{ id: string; tags?: Record<string, string>; cert?: IssuedCert }>, q: SqlRunner = this.sql): Promise<Credentials[]> {
    await this.checkNew(devices, q);
    return inTx(this.sql, q, async (t) => {
      const out: Credentials[] = [];
      for (const d of devices) {
        if (await t.get(SQL.exists, [d.id])) throw new WfError('DEVICE_EXISTS', d.id);
        const password = d.cert ? undefined : newPassword();
        await t.run(SQL.insert, [d.id, password ? hashToken(password) : '', JSON.stringify(d.tags ?? {}), nowSeconds(), d.cert?.serial ?? null, d.cert?.notAfter ?? null]);
        out.push({ id: d.id, username: d.id, ...(password ? { password } : {}) });
      }
      return out;
    });
  }

  /** Constant-time password check. A certificate device or a revoked one has no password. */
  async checkCredentials(id: string, password: string): Promise<boolean> {
    const row = await this.credentials.get(id);
    if (!row || row.revoked_at !== null || row.token_hash === '') return false;
    const given = Buffer.from(hashToken(password), 'hex');
    return timingSafeEqual(given, Buffer.from(row.token_hash, 'hex'));
  }

  /**
   * A verified client certificate: only the device's current one is accepted (rotation and
   * revocation take the others back). `operatorIssued`: the CA is the operator's own and the
   * server cannot issue, so a device with no recorded certificate is vouched for by that CA.
   */
  async checkCertificate(id: string, serial: string, operatorIssued = false): Promise<CertVerdict> {
    const row = await this.credentials.get(id);
    if (!row) return 'DEVICE_NOT_FOUND';
    if (row.revoked_at !== null) return 'DEVICE_REVOKED';
    if (row.cert_serial === null && operatorIssued) return null;
    return row.cert_serial !== null && row.cert_serial === serial ? null : 'CERT_REVOKED';
  }

  /** Take back every credential of a device; its current certificate goes on the revocation list. */
  async revoke(id: string): Promise<void> {
    const device = await this.require(id);
    const now = nowSeconds();
    await this.sql.tx(async (q) => {
      if (device.certSerial) await q.run(SQL.revokeSerial, [device.certSerial, id, now]);
      await q.run(SQL.revoke, [now, id]);
    });
    this.credentials.invalidate(id);
    this.onCredentialsChanged?.(id);
  }

  /**
   * New credentials for a device: a new password, or (given `cert`) the certificate issued for it.
   * The old password stops working and the old certificate goes on the revocation list.
   */
  async rotate(id: string, cert?: IssuedCert): Promise<Credentials> {
    const device = await this.require(id);
    if (device.revokedAt !== null) throw new WfError('DEVICE_REVOKED', id);
    const password = cert ? undefined : newPassword();
    await this.sql.tx(async (q) => {
      if (device.certSerial) await q.run(SQL.revokeSerial, [device.certSerial, id, nowSeconds()]);
      await q.run(SQL.setCredentials, [password ? hashToken(password) : '', cert?.serial ?? null, cert?.notAfter ?? null, id]);
    });
    this.credentials.invalidate(id);
    this.onCredentialsChanged?.(id);
    return { id, username: id, ...(password ? { password } : {}) };
  }

  /** Serials taken back by revocations and rotations, oldest first (the CRL's entries). */
  revokedSerials(): Promise<Array<{ serial: string; deviceId: string; revokedAt: number }>> {
    return this.sql.all(SQL.revokedSerials);
  }

  /** A device as it last reported: its pending in-flight step or outcome over the stored row. */
  async get(id: string, q: SqlRunner = this.sql): Promise<DeviceView | undefined> {
    const row = await q.get<DeviceRow>(SQL.get, [id]);
    return row ? toView(this.withPending(row)) : undefined;
  }

  /**
   * A device as the rollout engine may act on it: outcomes only once stored (the engine never
   * settles a member on an outcome a crash could still lose); in-flight steps, which it does not
   * act on, overlaid as in `get`.
   */
  async getForEngine(id: string): Promise<DeviceView | undefined> {
    const row = await this.sql.get<DeviceRow>(SQL.get, [id]);
    return row ? toView(this.withPending(row, false)) : undefined;
  }

  /** A stored row with its device's not-yet-written report applied (same columns as SQL.report). */
  private withPending(row: DeviceRow, outcomes = true): DeviceRow {
    const p = this.pendingProgress.get(row.id) ?? (outcomes ? this.outcomes?.latest.get(row.id) : undefined);
    if (!p) return row;
    const { r, now } = p;
    return {
      ...row,
      state: r.state,
      reason: r.reason ?? null,
      detail: r.detail ?? null,
      sequence: r.sequence,
      target_sequence: r.targetSequence ?? null,
      running: JSON.stringify(runningView(r.running)),
      progress_bytes: r.progress?.bytes ?? null,
      progress_total: r.progress?.total ?? null,
      last_seen: now,
    };
  }

  async require(id: string, q: SqlRunner = this.sql): Promise<DeviceView> {
    const d = await this.get(id, q);
    if (!d) throw new WfError('DEVICE_NOT_FOUND', id);
    return d;
  }

  /**
   * Asked for every MQTT message the server receives: answered from the credential cache when it
   * can. A revoked device no longer exists for the device stream (an external broker may still
   * carry its messages until it is disconnected there).
   */
  async exists(id: string): Promise<boolean> {
    return this.knownNow(id) ?? this.existsInStore(id);
  }

  /** `exists` from the credential cache alone, without a promise: undefined when not cached. */
  knownNow(id: string): boolean | undefined {
    const row = this.credentials.peek(id);
    return row === undefined ? undefined : row.revoked_at === null;
  }

  private async existsInStore(id: string): Promise<boolean> {
    const row = await this.credentials.get(id);
    return row !== undefined && row.revoked_at === null;
  }

  async list(): Promise<DeviceView[]> {
    return (await this.sql.all<DeviceRow>(SQL.all)).map((row) => toView(this.withPending(row)));
  }

  /**
   * What planning a rollout needs of every device, fast at fleet size: hello, tags and running
   * parsed once per distinct text (fleets repeat them), tags filtered on the parsed values.
   */
  async scanForPlan(tags: Record<string, string> = {}): Promise<DeviceFacts[]> {
    validateTags(tags);
    const wanted = Object.entries(tags);
    const rows = await this.sql.all<{ id: string; tags: string; hello: string | null; running: string }>(SQL.scan);
    const parsed = new Map<string, unknown>();
    const once = <T>(text: string): T => {
      let v = parsed.get(text);
      if (v === undefined) parsed.set(text, (v = JSON.parse(text)));
      return v as T;
    };
    const out: DeviceFacts[] = [];
    for (const r of rows) {
      const t = once<Record<string, string>>(r.tags);
      if (!wanted.every(([k, v]) => t[k] === v)) continue;
      out.push({ id: r.id, tags: t, hello: r.hello ? once<DeviceView['hello']>(r.hello) : null, running: once<RunningView[]>(r.running) });
    }
    return out;
  }

  /** Devices whose tags include every given key=value. */
  async selectByTags(tags: Record<string, string>): Promise<DeviceView[]> {
    const wanted = Object.entries(tags);
    return (await this.list()).filter((d) => wanted.every(([k, v]) => d.tags[k] === v));
  }

  /** Replace a device's tags (a running rollout whose selector now matches picks it up). */
  async setTags(id: string, tags: Record<string, string>): Promise<void> {
    validateTags(tags);
    await this.require(id);
    await this.sql.run(SQL.setTags, [JSON.stringify(tags), id]);
  }

  async recordHello(id: string, hello: Hello): Promise<void> {
    const view = { ...hello, running: hello.running ? runningView(hello.running) : undefined };
    await this.sql.run(SQL.hello, [JSON.stringify(view), hello.host, nowSeconds(), id]);
  }

  async recordOnline(id: string, online: boolean): Promise<void> {
    await this.sql.run(SQL.online, [online ? 1 : 0, nowSeconds(), id]);
  }

  async recordReport(id: string, r: Report): Promise<void> {
    if (isInFlight(r.state)) {
      // Latest wins; re-insert so the map's order is the age of the latest report.
      this.pendingProgress.delete(id);
      this.pendingProgress.set(id, { r, now: nowSeconds() });
      if (this.pendingProgress.size >= PROGRESS_MAX_PENDING && !this.progressFlushQueued) {
        this.progressFlushQueued = true;
        void this.flushProgress().catch(() => {});
      }
      return;
    }
    // A final state supersedes the device's pending in-flight report (it overwrites the same columns).
    this.pendingProgress.delete(id);
    const batch = (this.outcomes ??= new OutcomeBatch());
    const item = { id, r, now: nowSeconds() };
    batch.items.push(item);
    batch.latest.set(id, item);
    if (this.closed || batch.items.length >= OUTCOME_MAX_PENDING) {
      // One write queued per full batch, not one per outcome that arrives while it waits.
      if (!batch.flushQueued) void this.flushOutcomes().catch(() => {});
      batch.flushQueued = true;
    } else this.outcomeTimer ??= setTimeout(() => void this.flushOutcomes().catch(() => {}), this.outcomeWindowMs);
    await batch.done;
  }

  /** Write the outcomes gathered so far (and what rides along) in one transaction. */
  flushOutcomes(): Promise<void> {
    return this.serially(false);
  }

  /**
   * Write every pending in-flight report in one transaction, after the outcomes gathered so far;
   * on a store error keep the in-flight ones for the next try (and reject).
   */
  flushProgress(): Promise<void> {
    return this.serially(true);
  }

  private serially(withProgress: boolean): Promise<void> {
    const run = this.writing.then(() => this.writeBatch(withProgress));
    this.writing = run.catch(() => {});
    return run;
  }

  /**
   * One transaction: the gathered outcomes in arrival order, then (with `withProgress`) the
   * pending in-flight reports, then the rider's rows. What is taken is what is pending when the
   * write starts, so an outcome is never written before an in-flight step that preceded it.
   */
  private async writeBatch(withProgress: boolean): Promise<void> {
    if (this.outcomeTimer) clearTimeout(this.outcomeTimer);
    this.outcomeTimer = null;
    const outcomes = this.outcomes;
    this.outcomes = null;
    const progress = withProgress ? this.pendingProgress : null;
    if (progress) {
      this.pendingProgress = new Map();
      this.progressFlushQueued = false;
    }
    if (!outcomes && !progress?.size && !this.rider?.hasPending()) return;
    try {
      // Device rows in id order, as every multi-device writer locks them (DirectiveRepo.issue too):
      // on PostgreSQL two such transactions then never deadlock. The sort is stable, so each
      // device's own reports keep their order (outcomes before the in-flight steps that followed).
      const writes = [...(outcomes?.items ?? []), ...[...(progress ?? [])].map(([id, p]) => ({ id, ...p }))].sort(byDeviceId);
      await this.sql.tx(async (q) => {
        for (const w of writes) await this.writeReport(q, w.id, w.r, w.now);
        await this.rider?.writePending(q);
      });
    } catch (err) {
      outcomes?.reject(err);
      // Reports that arrived meanwhile (in-flight steps or outcomes) are newer: they win over the batch that failed.
      if (progress) for (const [id, p] of progress) if (!this.pendingProgress.has(id) && !this.hasPendingOutcome(id)) this.pendingProgress.set(id, p);
      this.rider?.batchFailed(err);
      throw err;
    }
    outcomes?.resolve();
  }

  private hasPendingOutcome(id: string): boolean {
    return this.outcomes?.latest.has(id) ?? false;
  }

  /** Stop the flush timers and write what is pending (server shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.progressTimer);
    // A store that refuses at shutdown: the in-flight steps are lost; the outcomes' reporters hear of it.
    await this.flushProgress().catch(() => {});
  }

  /** One report's row (and a commit's history), as one step of a batch's transaction. */
  private async writeReport(q: SqlRunner, id: string, r: Report, now: number): Promise<void> {
    const failing = r.state === 'failed' || r.state === 'rolled_back';
    const lastError = failing ? `${r.reason ?? 'UNKNOWN'}${r.detail ? `: ${r.detail}` : ''}` : null;
    const update = [
      r.state,
      r.reason ?? null,
      r.detail ?? null,
      r.sequence,
      r.targetSequence ?? null,
      JSON.stringify(runningView(r.running)),
      r.progress?.bytes ?? null,
      r.progress?.total ?? null,
      r.time,
      now,
      lastError,
      id,
    ];
    await q.run(SQL.report, update);
    if (r.state === 'committed') for (const c of r.running) await q.run(SQL.commit, [id, r.sequence, c.component, c.version, toHex(c.manifestDigest), now]);
  }

  /** Batched (store/telemetry.ts): the latest value per name reaches the store within a second. */
  recordTelemetry(id: string, name: string, value: number, at: number): void {
    this.telemetryBatch.record(id, name, value, at);
  }

  async telemetry(id: string): Promise<Array<{ name: string; value: number; at: number }>> {
    const stored = await this.sql.all<{ name: string; value: number; at: number }>(SQL.telemetryOf, [id]);
    const byName = new Map(stored.map((t) => [t.name, t]));
    for (const p of this.telemetryBatch.pendingFor(id)) byName.set(p.name, { name: p.name, value: p.value, at: p.at });
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Committed releases of a device, newest first. */
  commits(id: string): Promise<Array<{ sequence: number; component: string; version: string; manifestDigest: string; at: number }>> {
    return this.sql.all(SQL.commitsOf, [id]);
  }
}
