// Signed directives per device. The sequence is allocated inside the same transaction that
// stores the directive, so two deploys can never hand a device the same sequence.
import { StoreCache } from './cache.js';
import { inTx, type Sql, type SqlRunner } from './sql.js';

export interface DirectiveRecord {
  deviceId: string;
  sequence: number;
  issuedAt: number;
  expires: number;
  deployment: string;
  bundle: Uint8Array;
  images: Array<{ component: string; version: string; manifestDigest: string; sha256: string }>;
}

const SQL = {
  // Above both what we issued and what the device says it has seen: after a restore from an
  // old backup the device may be ahead of our records, and it refuses any sequence it has passed.
  maxSeq: `SELECT MAX(s) AS s FROM (
             SELECT MAX(sequence) AS s FROM directives WHERE device_id = ?
             UNION ALL SELECT sequence AS s FROM devices WHERE id = ?
             UNION ALL SELECT target_sequence AS s FROM devices WHERE id = ?) AS seqs`,
  insert: 'INSERT INTO directives (device_id, sequence, issued_at, expires, deployment, bundle) VALUES (?, ?, ?, ?, ?, ?)',
  owed: 'UPDATE devices SET owed_sequence = ? WHERE id = ?',
  insertImage: 'INSERT INTO directive_images (device_id, sequence, component, version, manifest_digest, sha256) VALUES (?, ?, ?, ?, ?, ?)',
  latest: `SELECT d.device_id AS "deviceId", d.bundle AS bundle FROM directives d
           JOIN (SELECT device_id, MAX(sequence) AS s FROM directives GROUP BY device_id) m ON d.device_id = m.device_id AND d.sequence = m.s`,
  latestBundleOf: 'SELECT sequence, bundle FROM directives WHERE device_id = ? ORDER BY sequence DESC LIMIT 1',
  // Served by the partial index devices_owed (owed_sequence > sequence).
  undelivered: `SELECT id FROM devices WHERE owed_sequence > sequence
                  AND online = 1 AND (target_sequence IS NULL OR target_sequence < owed_sequence)
                  AND NOT (state = 'failed' AND target_sequence IS NULL) LIMIT ?`,
  latestOf: 'SELECT sequence, deployment FROM directives WHERE device_id = ? ORDER BY sequence DESC LIMIT 1',
  imagesOf: 'SELECT DISTINCT sha256 FROM directive_images WHERE device_id = ?',
  names: 'SELECT sequence FROM directive_images WHERE device_id = ? AND sha256 = ? LIMIT 1',
} as const;

export class DirectiveRepo {
  /**
   * Device → image digests it may fetch (asked on every chunk request): filled on a miss,
   * extended (or started) by `issue`, dropped by `allowed.invalidate(deviceId?)`; a lower bound,
   * as `mayFetch` asks the store before it says no. An issue whose transaction
   * is later rolled back leaves its images allowed until then: images of a directive the device
   * never got, which it has no reason to ask for.
   */
  readonly allowed: StoreCache<string, Set<string>>;

  constructor(private readonly sql: Sql) {
    this.allowed = new StoreCache(async (deviceId) => new Set((await this.sql.all<{ sha256: string }>(SQL.imagesOf, [deviceId])).map((r) => r.sha256)));
  }

  /**
   * Allocate the next sequence for each device and store what `sign` produces for it, in one
   * transaction (the caller's, when `q` is one: callers that store more with it open it).
   */
  async issue(
    deviceIds: string[],
    sign: (deviceId: string, sequence: number) => Omit<DirectiveRecord, 'deviceId' | 'sequence'>,
    q: SqlRunner = this.sql,
  ): Promise<DirectiveRecord[]> {
    const records = await inTx(this.sql, q, (t) => this.issueIn(t, deviceIds, sign));
    // A device not cached yet starts with this directive's images: its first chunk request (a
    // thousand devices at once in a rollout) needs no query; an older image asks the store.
    for (const rec of records) {
      for (const img of rec.images) this.allowed.update(rec.deviceId, (set) => set.add(img.sha256), () => new Set());
    }
    return records;
  }

  private async issueIn(q: SqlRunner, deviceIds: string[], sign: (deviceId: string, sequence: number) => Omit<DirectiveRecord, 'deviceId' | 'sequence'>): Promise<DirectiveRecord[]> {
    const records: DirectiveRecord[] = [];
    // In id order: device rows are locked in that order by every multi-device writer (the report
    // batches too), so two transactions on PostgreSQL never deadlock on them.
    for (const deviceId of [...deviceIds].sort()) {
      const row = await q.get<{ s: number | null }>(SQL.maxSeq, [deviceId, deviceId, deviceId]);
      const sequence = (row?.s ?? 0) + 1;
      const rec: DirectiveRecord = { deviceId, sequence, ...sign(deviceId, sequence) };
      await q.run(SQL.insert, [deviceId, sequence, rec.issuedAt, rec.expires, rec.deployment, rec.bundle]);
      await q.run(SQL.owed, [sequence, deviceId]);
      for (const img of rec.images) await q.run(SQL.insertImage, [deviceId, sequence, img.component, img.version, img.manifestDigest, img.sha256]);
      records.push(rec);
    }
    return records;
  }

  /** The newest bundle of every device, to republish as retained messages after a restart. */
  async latestBundles(): Promise<Array<{ deviceId: string; bundle: Uint8Array }>> {
    return (await this.sql.all<{ deviceId: string; bundle: Uint8Array }>(SQL.latest)).map((r) => ({ deviceId: r.deviceId, bundle: new Uint8Array(r.bundle) }));
  }

  /** The newest bundle of one device: what it is owed. */
  async latestBundleOf(deviceId: string): Promise<{ sequence: number; bundle: Uint8Array } | undefined> {
    const row = await this.sql.get<{ sequence: number; bundle: Uint8Array }>(SQL.latestBundleOf, [deviceId]);
    return row ? { sequence: row.sequence, bundle: new Uint8Array(row.bundle) } : undefined;
  }

  /**
   * Devices whose last report shows they have not seen what they are owed: neither committed
   * nor working on (nor refused) their newest directive. Served by a partial index. A device
   * whose last report is a refusal (checks 1-4 fail without naming a sequence) is left to the
   * check on its next hello, so a refused directive is not re-sent every period.
   */
  async undelivered(limit: number): Promise<string[]> {
    return (await this.sql.all<{ id: string }>(SQL.undelivered, [limit])).map((r) => r.id);
  }

  latestOf(deviceId: string): Promise<{ sequence: number; deployment: string } | undefined> {
    return this.sql.get(SQL.latestOf, [deviceId]);
  }

  /**
   * May this device fetch this image? Only images some directive of its own named. A "no" from
   * the cache is asked again of the store (a directive another transaction or instance stored
   * since the cache was filled), so the cache can only make the answer faster, never wrong.
   */
  async mayFetch(deviceId: string, sha256Hex: string): Promise<boolean> {
    const set = this.allowed.peek(deviceId) ?? (await this.allowed.get(deviceId));
    if (set?.has(sha256Hex)) return true;
    if (!(await this.sql.get(SQL.names, [deviceId, sha256Hex]))) return false;
    this.allowed.update(deviceId, (s) => s.add(sha256Hex));
    return true;
  }
}
