// A device's history for the console (docs/console.md §device data): the reports that changed its
// state, bounded per device before anything grows (device input is hostile: a device that reports
// a thousand times a second still owns at most KEEP rows), merged with the directives the server
// issued it (already stored, server-made).
import type { Report } from '../../protocol/messages.js';
import type { DeviceEventView } from '../../protocol/views.js';
import type { Logger } from 'pino';
import type { ReportBatchRider } from './devices.js';
import type { Sql, SqlRunner } from './sql.js';

/** Report events kept per device. */
export const DEVICE_EVENTS_KEEP = 100;
/** Old events are deleted once every TRIM_EVERY inserts of a device, not after each one. */
const TRIM_EVERY = 10;
/** Devices whose last event is remembered (so an unchanged report costs no query). */
const REMEMBERED_MAX = 200_000;
/** Longest detail stored (the report decoder bounds it already; this is the store's own limit). */
const DETAIL_MAX = 256;
const REASON_MAX = 64;

interface EventRow {
  at_ms: number;
  state: string;
  reason: string | null;
  detail: string | null;
  sequence: number;
  target_sequence: number | null;
  releases: string;
}

const clip = (s: string | undefined, max: number): string | null => (s === undefined || s === '' ? null : s.length > max ? s.slice(0, max) : s);

/** Reports waiting for the next report batch (bounded: beyond it new ones are dropped and counted). */
const PENDING_MAX = 50_000;

interface PendingEvent {
  deviceId: string;
  r: Report;
  nowMs: number;
}

/**
 * Written in the report batches' transactions (store/devices.ts, ReportBatchRider): the history
 * of an outcome is stored with the outcome, before the rollout engine hears of it, and an in-flight
 * step's within the in-flight flush interval.
 */
export class DeviceEventRepo implements ReportBatchRider {
  /** Reports in arrival order, for the next batch. */
  private pending: PendingEvent[] = [];
  private dropped = 0;
  /** Per device, the key of its newest stored event and the inserts since its last trim. */
  private readonly newest = new Map<string, { key: string; sinceTrim: number }>();

  constructor(
    private readonly sql: Sql,
    private readonly keep = DEVICE_EVENTS_KEEP,
    private readonly log?: Logger,
  ) {}

  /**
   * Record a report if it changed what the device says (state, reason, sequence, target): progress
   * steps of the same download are one event. Queued for the next report batch; never waits.
   */
  recordReport(deviceId: string, r: Report, nowMs: number): void {
    if (this.pending.length >= PENDING_MAX) {
      this.dropped++;
      return;
    }
    this.pending.push({ deviceId, r, nowMs });
  }

  hasPending(): boolean {
    return this.pending.length > 0 || this.dropped > 0;
  }

  /** One step of a report batch's transaction: the queued reports that changed something, in order. */
  async writePending(q: SqlRunner): Promise<void> {
    if (this.dropped) {
      this.log?.warn({ dropped: this.dropped }, 'device history: reports dropped (more waiting than a batch holds)');
      this.dropped = 0;
    }
    const batch = this.pending;
    this.pending = [];
    for (const e of batch) await this.write(q, e.deviceId, e.r, e.nowMs);
  }

  /** The batch's transaction failed: its events are gone, and what was remembered of them is forgotten. */
  batchFailed(err: unknown): void {
    this.newest.clear();
    this.log?.warn({ err: (err as Error)?.message }, 'device history not written');
  }

  private async write(q: SqlRunner, deviceId: string, r: Report, nowMs: number): Promise<void> {
    const reason = clip(r.reason, REASON_MAX);
    const detail = clip(r.detail, DETAIL_MAX);
    const target = r.targetSequence ?? null;
    const key = `${r.state}\0${reason ?? ''}\0${r.sequence}\0${target ?? ''}`;
    let known = this.newest.get(deviceId);
    if (!known) {
      const last = await q.get<EventRow>('SELECT state, reason, sequence, target_sequence FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT 1', [deviceId]);
      // Unknown count since the last trim: trim at the first insert.
      known = { key: last ? `${last.state}\0${last.reason ?? ''}\0${last.sequence}\0${last.target_sequence ?? ''}` : '', sinceTrim: TRIM_EVERY - 1 };
      if (this.newest.size >= REMEMBERED_MAX) this.newest.clear();
      this.newest.set(deviceId, known);
    }
    if (known.key === key) return;
    const releases = r.running.map((c) => `${c.component}@${c.version}`).join(' ');
    await q.run('INSERT INTO device_events (device_id, at_ms, state, reason, detail, sequence, target_sequence, releases) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      deviceId,
      nowMs,
      r.state,
      reason,
      detail,
      r.sequence,
      target,
      releases,
    ]);
    known.key = key;
    // At most KEEP + TRIM_EVERY rows per device between trims; reads never show more than KEEP.
    if (++known.sinceTrim < TRIM_EVERY) return;
    known.sinceTrim = 0;
    await q.run(
      'DELETE FROM device_events WHERE device_id = ? AND id <= (SELECT id FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)',
      [deviceId, deviceId, this.keep],
    );
  }

  /** Reports and directives of a device, newest first, at most `limit`. */
  async history(deviceId: string, limit: number): Promise<DeviceEventView[]> {
    const reports = await this.sql.all<EventRow>(
      'SELECT at_ms, state, reason, detail, sequence, target_sequence, releases FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT ?',
      [deviceId, Math.min(limit, this.keep)],
    );
    const directives = await this.sql.all<{ sequence: number; issued_at: number; deployment: string }>(
      'SELECT sequence, issued_at, deployment FROM directives WHERE device_id = ? ORDER BY sequence DESC LIMIT ?',
      [deviceId, limit],
    );
    const oldest = directives.length ? directives[directives.length - 1].sequence : 0;
    const images = await this.sql.all<{ sequence: number; component: string; version: string }>(
      'SELECT sequence, component, version FROM directive_images WHERE device_id = ? AND sequence >= ? ORDER BY sequence, component',
      [deviceId, oldest],
    );
    const named = new Map<number, string[]>();
    for (const i of images) named.set(i.sequence, [...(named.get(i.sequence) ?? []), `${i.component}@${i.version}`]);
    const events: DeviceEventView[] = [
      ...reports.map((e) => ({
        at: e.at_ms,
        kind: 'report' as const,
        sequence: e.sequence,
        state: e.state,
        reason: e.reason,
        detail: e.detail,
        targetSequence: e.target_sequence,
        rollout: null,
        releases: e.releases ? e.releases.split(' ') : [],
      })),
      ...directives.map((d) => ({
        at: d.issued_at * 1000,
        kind: 'directive' as const,
        sequence: d.sequence,
        state: null,
        reason: null,
        detail: null,
        targetSequence: null,
        rollout: d.deployment,
        releases: named.get(d.sequence) ?? [],
      })),
    ];
    // Newest first; at the same time a directive comes before the reports it caused.
    events.sort((a, b) => b.at - a.at || (a.kind === b.kind ? 0 : a.kind === 'report' ? -1 : 1));
    return events.slice(0, limit);
  }
}
