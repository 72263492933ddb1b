// Device inventory: credentials, tags, and what the device last said (hello, online, report).
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { Hello, Report, RunningComponent } from '../../protocol/messages.js';
import { IN_FLIGHT_STATES, type DeviceState } from '../../protocol/states.js';
import { toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { isReservedDeviceId, PATTERNS } from '../../protocol/fields.js';
import type { DeviceView, RunningView } from '../../protocol/views.js';
import { nowSeconds, type Db } from './db.js';
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

/** Update steps between a directive and its outcome: batched (see DeviceRepo.pendingProgress). */
const isInFlight = (s: string) => IN_FLIGHT_STATES.includes(s as DeviceState);

/** In-flight reports wait at most this long in memory before reaching SQLite. */
export const PROGRESS_FLUSH_MS = 500;
const PROGRESS_MAX_PENDING = 2000;

export class DeviceRepo {
  /** Credentials by device id: every MQTT connect and message asks, so they are cached. */
  private readonly credCache = new Map<string, CredentialRow>();
  private readonly stmts;
  /**
   * In-flight reports (assigned, downloading with byte counts, verifying, installing, probation)
   * are most of a device's reports and the rollout engine acts on none of them. Only the latest per
   * device waits here and reaches SQLite in one transaction every PROGRESS_FLUSH_MS
   * (store/telemetry.ts is the model). Final states (committed, failed, rolled_back, idle) and
   * `stale` are written at once, so they are durable before the engine acts on them; a server
   * killed meanwhile loses at most the last in-flight step, superseded by the
   * device's next report. Reads (the API, the engine) overlay these.
   */
  private pendingProgress = new Map<string, { r: Report; now: number }>();
  private readonly progressTimer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly telemetryBatch: TelemetryBatch,
    progressFlushMs = PROGRESS_FLUSH_MS,
  ) {
    this.progressTimer = setInterval(() => {
      try {
        this.flushProgress();
      } catch {
        // Disk refused: the reports stay pending for the next tick; the next state written at once reports the error.
      }
    }, progressFlushMs);
    this.progressTimer.unref();
    this.stmts = {
      insert: db.prepare('INSERT INTO devices (id, token_hash, tags, created_at, cert_serial, cert_not_after) VALUES (?, ?, ?, ?, ?, ?)'),
      setCredentials: db.prepare('UPDATE devices SET token_hash = ?, cert_serial = ?, cert_not_after = ? WHERE id = ?'),
      revoke: db.prepare("UPDATE devices SET token_hash = '', cert_serial = NULL, revoked_at = ? WHERE id = ?"),
      revokeSerial: db.prepare('INSERT OR IGNORE INTO revoked_certs (serial, device_id, revoked_at) VALUES (?, ?, ?)'),
      revokedSerials: db.prepare('SELECT serial, device_id AS deviceId, revoked_at AS revokedAt FROM revoked_certs ORDER BY revoked_at'),
      get: db.prepare('SELECT * FROM devices WHERE id = ?'),
      all: db.prepare('SELECT * FROM devices ORDER BY id'),
      credentials: db.prepare('SELECT token_hash, cert_serial, revoked_at FROM devices WHERE id = ?'),
      hello: db.prepare('UPDATE devices SET hello = ?, last_seen = ? WHERE id = ?'),
      online: db.prepare('UPDATE devices SET online = ?, last_seen = ? WHERE id = ?'),
      setTags: db.prepare('UPDATE devices SET tags = ? WHERE id = ?'),
      report: db.prepare(
        `UPDATE devices SET state = ?, reason = ?, detail = ?, sequence = ?, target_sequence = ?, running = ?,
           progress_bytes = ?, progress_total = ?, report_time = ?, last_seen = ?,
           last_error = CASE WHEN ? IS NOT NULL THEN ? ELSE last_error END
         WHERE id = ?`,
      ),
      commit: db.prepare(
        'INSERT OR IGNORE INTO commits (device_id, sequence, component, version, manifest_digest, at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      telemetryOf: db.prepare('SELECT name, value, at FROM telemetry WHERE device_id = ? ORDER BY name'),
      commitsOf: db.prepare('SELECT sequence, component, version, manifest_digest AS manifestDigest, at FROM commits WHERE device_id = ? ORDER BY sequence DESC'),
    };
  }

  /** Refuse ids that cannot be created, before any work is done for them (a certificate, say). */
  checkNew(devices: Array<{ id: string; tags?: Record<string, string> }>): void {
    const seen = new Set<string>();
    for (const d of devices) {
      if (!PATTERNS.deviceId.test(d.id)) throw new WfError('DEVICE_ID_INVALID', `"${d.id}": use 1-64 of [A-Za-z0-9_-]`);
      if (isReservedDeviceId(d.id)) throw new WfError('DEVICE_ID_RESERVED', `"${d.id}": ids starting with "wasmfleet" belong to the server`);
      validateTags(d.tags ?? {});
      if (seen.has(d.id) || this.stmts.get.get(d.id)) throw new WfError('DEVICE_EXISTS', d.id);
      seen.add(d.id);
    }
  }

  /**
   * Create devices, all or none: each with a fresh password, or (when `cert` is given for it)
   * with the client certificate issued for it and no password at all.
   */
  create(devices: Array<{ id: string; tags?: Record<string, string>; cert?: IssuedCert }>): Credentials[] {
    this.checkNew(devices);
    const tx = this.db.transaction(() =>
      devices.map((d) => {
        if (this.stmts.get.get(d.id)) throw new WfError('DEVICE_EXISTS', d.id);
        const password = d.cert ? undefined : newPassword();
        this.stmts.insert.run(d.id, password ? hashToken(password) : '', JSON.stringify(d.tags ?? {}), nowSeconds(), d.cert?.serial ?? null, d.cert?.notAfter ?? null);
        return { id: d.id, username: d.id, ...(password ? { password } : {}) };
      }),
    );
    return tx();
  }

  private credentials(id: string): CredentialRow | undefined {
    let row = this.credCache.get(id);
    if (row === undefined) {
      row = this.stmts.credentials.get(id) as CredentialRow | undefined;
      if (row) this.credCache.set(id, row);
    }
    return row;
  }

  /** Constant-time password check. A certificate device or a revoked one has no password. */
  checkCredentials(id: string, password: string): boolean {
    const row = this.credentials(id);
    if (!row || row.revoked_at !== null || row.token_hash === '') return false;
    const given = Buffer.from(hashToken(password), 'hex');
    return timingSafeEqual(given, Buffer.from(row.token_hash, 'hex'));
  }

  /**
   * A verified client certificate: only the device's current one is accepted (rotation and
   * revocation take the others back). `operatorIssued`: the CA is the operator's own and the
   * server cannot issue, so a device with no recorded certificate is vouched for by that CA.
   */
  checkCertificate(id: string, serial: string, operatorIssued = false): CertVerdict {
    const row = this.credentials(id);
    if (!row) return 'DEVICE_NOT_FOUND';
    if (row.revoked_at !== null) return 'DEVICE_REVOKED';
    if (row.cert_serial === null && operatorIssued) return null;
    return row.cert_serial !== null && row.cert_serial === serial ? null : 'CERT_REVOKED';
  }

  /** Take back every credential of a device; its current certificate goes on the revocation list. */
  revoke(id: string): void {
    const device = this.require(id);
    const now = nowSeconds();
    this.db.transaction(() => {
      if (device.certSerial) this.stmts.revokeSerial.run(device.certSerial, id, now);
      this.stmts.revoke.run(now, id);
    })();
    this.credCache.delete(id);
  }

  /**
   * New credentials for a device: a new password, or (given `cert`) the certificate issued for it.
   * The old password stops working and the old certificate goes on the revocation list.
   */
  rotate(id: string, cert?: IssuedCert): Credentials {
    const device = this.require(id);
    if (device.revokedAt !== null) throw new WfError('DEVICE_REVOKED', id);
    const password = cert ? undefined : newPassword();
    this.db.transaction(() => {
      if (device.certSerial) this.stmts.revokeSerial.run(device.certSerial, id, nowSeconds());
      this.stmts.setCredentials.run(password ? hashToken(password) : '', cert?.serial ?? null, cert?.notAfter ?? null, id);
    })();
    this.credCache.delete(id);
    return { id, username: id, ...(password ? { password } : {}) };
  }

  /** Serials taken back by revocations and rotations, oldest first (the CRL's entries). */
  revokedSerials(): Array<{ serial: string; deviceId: string; revokedAt: number }> {
    return this.stmts.revokedSerials.all() as Array<{ serial: string; deviceId: string; revokedAt: number }>;
  }

  get(id: string): DeviceView | undefined {
    const row = this.stmts.get.get(id) as DeviceRow | undefined;
    return row ? toView(this.withPending(row)) : undefined;
  }

  /** A stored row with its device's not-yet-written progress report applied (same columns as stmts.report). */
  private withPending(row: DeviceRow): DeviceRow {
    const p = this.pendingProgress.get(row.id);
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

  require(id: string): DeviceView {
    const d = this.get(id);
    if (!d) throw new WfError('DEVICE_NOT_FOUND', id);
    return d;
  }

  /**
   * Asked for every MQTT message the server receives: answered from the credential cache when it
   * can. A revoked device no longer exists for the device stream (an external broker may still
   * carry its messages until it is disconnected there).
   */
  exists(id: string): boolean {
    const row = this.credentials(id);
    return row !== undefined && row.revoked_at === null;
  }

  list(): DeviceView[] {
    return (this.stmts.all.all() as DeviceRow[]).map((row) => toView(this.withPending(row)));
  }

  /**
   * What planning a rollout needs of every device, fast at fleet size: tags filtered in SQL,
   * hello and running parsed once per distinct text (fleets repeat them).
   */
  scanForPlan(tags: Record<string, string> = {}): DeviceFacts[] {
    validateTags(tags);
    const keys = Object.keys(tags);
    const where = keys.map(() => 'json_extract(tags, ?) = ?').join(' AND ');
    const rows = this.db
      .prepare(`SELECT id, tags, hello, running FROM devices${where ? ` WHERE ${where}` : ''} ORDER BY id`)
      .raw()
      .all(...keys.flatMap((k) => [`$."${k}"`, tags[k]])) as Array<[string, string, string | null, string]>;
    const parsed = new Map<string, unknown>();
    const once = <T>(text: string): T => {
      let v = parsed.get(text);
      if (v === undefined) parsed.set(text, (v = JSON.parse(text)));
      return v as T;
    };
    return rows.map(([id, t, hello, running]) => ({
      id,
      tags: once<Record<string, string>>(t),
      hello: hello ? once<DeviceView['hello']>(hello) : null,
      running: once<RunningView[]>(running),
    }));
  }

  /** Devices whose tags include every given key=value. */
  selectByTags(tags: Record<string, string>): DeviceView[] {
    const wanted = Object.entries(tags);
    return this.list().filter((d) => wanted.every(([k, v]) => d.tags[k] === v));
  }

  /** Replace a device's tags (a running rollout whose selector now matches picks it up). */
  setTags(id: string, tags: Record<string, string>): void {
    validateTags(tags);
    this.require(id);
    this.stmts.setTags.run(JSON.stringify(tags), id);
  }

  recordHello(id: string, hello: Hello): void {
    const view = { ...hello, running: hello.running ? runningView(hello.running) : undefined };
    this.stmts.hello.run(JSON.stringify(view), nowSeconds(), id);
  }

  recordOnline(id: string, online: boolean): void {
    this.stmts.online.run(online ? 1 : 0, nowSeconds(), id);
  }

  recordReport(id: string, r: Report): void {
    if (isInFlight(r.state)) {
      // Latest wins; re-insert so the map's order is the age of the latest report.
      this.pendingProgress.delete(id);
      this.pendingProgress.set(id, { r, now: nowSeconds() });
      if (this.pendingProgress.size >= PROGRESS_MAX_PENDING) this.flushProgress();
      return;
    }
    // A final state supersedes the device's pending in-flight report (it overwrites the same columns).
    this.pendingProgress.delete(id);
    this.writeReport(id, r, nowSeconds());
  }

  /** Write every pending progress report in one transaction; on a disk error keep them for the next try. */
  flushProgress(): void {
    if (this.pendingProgress.size === 0) return;
    const batch = this.pendingProgress;
    this.pendingProgress = new Map();
    try {
      this.db.transaction(() => {
        for (const [id, p] of batch) this.writeReport(id, p.r, p.now);
      })();
    } catch (err) {
      // Reports that arrived meanwhile are newer: they win over the batch that failed.
      for (const [id, p] of batch) if (!this.pendingProgress.has(id)) this.pendingProgress.set(id, p);
      throw err;
    }
  }

  /** Stop the flush timer and write what is pending (server shutdown). */
  close(): void {
    clearInterval(this.progressTimer);
    try {
      this.flushProgress();
    } catch {
      // A disk that refuses at shutdown: the in-flight steps are lost, final states are on disk already.
    }
  }

  private writeReport(id: string, r: Report, now: number): void {
    const failing = r.state === 'failed' || r.state === 'rolled_back';
    const lastError = failing ? `${r.reason ?? 'UNKNOWN'}${r.detail ? `: ${r.detail}` : ''}` : null;
    this.db.transaction(() => {
      this.stmts.report.run(
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
        lastError,
        id,
      );
      if (r.state === 'committed') {
        for (const c of r.running) this.stmts.commit.run(id, r.sequence, c.component, c.version, toHex(c.manifestDigest), now);
      }
    })();
  }

  /** Batched (store/telemetry.ts): the latest value per name reaches SQLite within a second. */
  recordTelemetry(id: string, name: string, value: number, at: number): void {
    this.telemetryBatch.record(id, name, value, at);
  }

  telemetry(id: string): Array<{ name: string; value: number; at: number }> {
    const byName = new Map((this.stmts.telemetryOf.all(id) as Array<{ name: string; value: number; at: number }>).map((t) => [t.name, t]));
    for (const p of this.telemetryBatch.pendingFor(id)) byName.set(p.name, { name: p.name, value: p.value, at: p.at });
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Committed releases of a device, newest first. */
  commits(id: string): Array<{ sequence: number; component: string; version: string; manifestDigest: string; at: number }> {
    return this.stmts.commitsOf.all(id) as Array<{ sequence: number; component: string; version: string; manifestDigest: string; at: number }>;
  }
}
