// Signed directives per device. The sequence is allocated inside the same transaction that
// stores the directive, so two deploys can never hand a device the same sequence.
import type { Db } from './db.js';

export interface DirectiveRecord {
  deviceId: string;
  sequence: number;
  issuedAt: number;
  expires: number;
  deployment: string;
  bundle: Uint8Array;
  images: Array<{ component: string; version: string; manifestDigest: string; sha256: string }>;
}

export class DirectiveRepo {
  private readonly stmts;
  /** device → image digests it may fetch; filled lazily, extended on every new directive. */
  private readonly allowed = new Map<string, Set<string>>();

  constructor(private readonly db: Db) {
    this.stmts = {
      // Above both what we issued and what the device says it has seen: after a restore from an
      // old backup the device may be ahead of our records, and it refuses any sequence it has passed.
      maxSeq: db.prepare(
        `SELECT MAX(s) AS s FROM (
           SELECT MAX(sequence) AS s FROM directives WHERE device_id = @id
           UNION ALL SELECT sequence FROM devices WHERE id = @id
           UNION ALL SELECT target_sequence FROM devices WHERE id = @id)`,
      ),
      insert: db.prepare('INSERT INTO directives (device_id, sequence, issued_at, expires, deployment, bundle) VALUES (?, ?, ?, ?, ?, ?)'),
      owed: db.prepare('UPDATE devices SET owed_sequence = ? WHERE id = ?'),
      insertImage: db.prepare('INSERT INTO directive_images (device_id, sequence, component, version, manifest_digest, sha256) VALUES (?, ?, ?, ?, ?, ?)'),
      latest: db.prepare(
        'SELECT d.device_id AS deviceId, d.bundle AS bundle FROM directives d JOIN (SELECT device_id, MAX(sequence) AS s FROM directives GROUP BY device_id) m ON d.device_id = m.device_id AND d.sequence = m.s',
      ),
      latestBundleOf: db.prepare('SELECT sequence, bundle FROM directives WHERE device_id = ? ORDER BY sequence DESC LIMIT 1'),
      undelivered: db.prepare(
        `SELECT id FROM devices INDEXED BY devices_owed WHERE owed_sequence > sequence
           AND online = 1 AND (target_sequence IS NULL OR target_sequence < owed_sequence)
           AND NOT (state = 'failed' AND target_sequence IS NULL) LIMIT ?`,
      ),
      latestOf: db.prepare('SELECT sequence, deployment FROM directives WHERE device_id = ? ORDER BY sequence DESC LIMIT 1'),
      imagesOf: db.prepare('SELECT DISTINCT sha256 FROM directive_images WHERE device_id = ?'),
    };
  }

  /**
   * Allocate the next sequence for each device and store what `sign` produces for it,
   * all in one transaction.
   */
  issue(deviceIds: string[], sign: (deviceId: string, sequence: number) => Omit<DirectiveRecord, 'deviceId' | 'sequence'>): DirectiveRecord[] {
    const records = this.db.transaction(() =>
      deviceIds.map((deviceId) => {
        const row = this.stmts.maxSeq.get({ id: deviceId }) as { s: number | null };
        const sequence = (row.s ?? 0) + 1;
        const rec: DirectiveRecord = { deviceId, sequence, ...sign(deviceId, sequence) };
        this.stmts.insert.run(deviceId, sequence, rec.issuedAt, rec.expires, rec.deployment, Buffer.from(rec.bundle));
        this.stmts.owed.run(sequence, deviceId);
        for (const img of rec.images) {
          this.stmts.insertImage.run(deviceId, sequence, img.component, img.version, img.manifestDigest, img.sha256);
        }
        return rec;
      }),
    )();
    for (const rec of records) for (const img of rec.images) this.allowedFor(rec.deviceId).add(img.sha256);
    return records;
  }

  /** The newest bundle of every device, to republish as retained messages after a restart. */
  latestBundles(): Array<{ deviceId: string; bundle: Uint8Array }> {
    return (this.stmts.latest.all() as Array<{ deviceId: string; bundle: Buffer }>).map((r) => ({ deviceId: r.deviceId, bundle: new Uint8Array(r.bundle) }));
  }

  /** The newest bundle of one device: what it is owed. */
  latestBundleOf(deviceId: string): { sequence: number; bundle: Uint8Array } | undefined {
    const row = this.stmts.latestBundleOf.get(deviceId) as { sequence: number; bundle: Buffer } | undefined;
    return row ? { sequence: row.sequence, bundle: new Uint8Array(row.bundle) } : undefined;
  }

  /**
   * Devices whose last report shows they have not seen what they are owed: neither committed
   * nor working on (nor refused) their newest directive. Served by a partial index. A device
   * whose last report is a refusal (checks 1-4 fail without naming a sequence) is left to the
   * check on its next hello, so a refused directive is not re-sent every period.
   */
  undelivered(limit: number): string[] {
    return (this.stmts.undelivered.all(limit) as Array<{ id: string }>).map((r) => r.id);
  }

  latestOf(deviceId: string): { sequence: number; deployment: string } | undefined {
    return this.stmts.latestOf.get(deviceId) as { sequence: number; deployment: string } | undefined;
  }

  /** May this device fetch this image? Only images some directive of its own named. */
  mayFetch(deviceId: string, sha256Hex: string): boolean {
    if (this.allowedFor(deviceId).has(sha256Hex)) return true;
    // Not in the cache: the directive may have been issued by another instance (docs/scale-out.md); read again.
    this.allowed.delete(deviceId);
    return this.allowedFor(deviceId).has(sha256Hex);
  }

  private allowedFor(deviceId: string): Set<string> {
    let set = this.allowed.get(deviceId);
    if (!set) {
      set = new Set((this.stmts.imagesOf.all(deviceId) as Array<{ sha256: string }>).map((r) => r.sha256));
      this.allowed.set(deviceId, set);
    }
    return set;
  }
}
