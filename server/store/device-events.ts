// A device's history for the console (docs/console.md §device data): the reports that changed its
// state, bounded per device before anything grows (device input is hostile: a device that reports
// a thousand times a second still owns at most KEEP rows), merged with the directives the server
// issued it (already stored, server-made).
import type { Report } from '../../protocol/messages.js';
import type { DeviceEventView } from '../../protocol/views.js';
import type { Logger } from 'pino';
import type { ReportBatchRider } from './devices.js';
import type { Sql, SqlRunner, SqlValue } from './sql.js';

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

const EVENT_COLUMNS = 8;
/** Rows per INSERT statement (the statement texts stay few: one per row count up to this). */
const INSERT_ROWS = 50;
const insertTexts: string[] = [];
const insertRows = (n: number) =>
  (insertTexts[n] ??= `INSERT INTO device_events (device_id, at_ms, state, reason, detail, sequence, target_sequence, releases) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`);

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

  /**
   * One step of a report batch's transaction: the queued reports that changed something, in
   * order, as multi-row INSERTs (ids follow the rows' order), then the trims that came due.
   */
  async writePending(q: SqlRunner): Promise<void> {
    if (this.dropped) {
      this.log?.warn({ dropped: this.dropped }, 'device history: reports dropped (more waiting than a batch holds)');
      this.dropped = 0;
    }
    const batch = this.pending;
    this.pending = [];
    const rows: SqlValue[] = [];
    const trims = new Set<string>();
    for (const e of batch) {
      const reason = clip(e.r.reason, REASON_MAX);
      const target = e.r.targetSequence ?? null;
      const key = `${e.r.state}\0${reason ?? ''}\0${e.r.sequence}\0${target ?? ''}`;
      const known = this.newest.get(e.deviceId) ?? (await this.lookUp(q, e.deviceId));
      if (known.key === key) continue;
      known.key = key;
      const releases = e.r.running.map((c) => `${c.component}@${c.version}`).join(' ');
      rows.push(e.deviceId, e.nowMs, e.r.state, reason, clip(e.r.detail, DETAIL_MAX), e.r.sequence, target, releases);
      // At most KEEP + TRIM_EVERY rows per device between trims; reads never show more than KEEP.
      if (++known.sinceTrim >= TRIM_EVERY) {
        known.sinceTrim = 0;
        trims.add(e.deviceId);
      }
    }
    for (let at = 0; at < rows.length; at += INSERT_ROWS * EVENT_COLUMNS) {
      const chunk = rows.slice(at, at + INSERT_ROWS * EVENT_COLUMNS);
      await q.run(insertRows(chunk.length / EVENT_COLUMNS), chunk);
    }
    for (const deviceId of trims) {
      await q.run(
        'DELETE FROM device_events WHERE device_id = ? AND id <= (SELECT id FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)',
        [deviceId, deviceId, this.keep],
      );
    }
  }

  /** The batch's transaction failed: its events are gone, and what was remembered of them is forgotten. */
  batchFailed(err: unknown): void {
    this.newest.clear();
    this.log?.warn({ err: (err as Error)?.message }, 'device history not written');
  }

  /** A device's newest stored event, once per device (then remembered). */
  private async lookUp(q: SqlRunner, deviceId: string): Promise<{ key: string; sinceTrim: number }> {
    const last = await q.get<EventRow>('SELECT state, reason, sequence, target_sequence FROM device_events WHERE device_id = ? ORDER BY id DESC LIMIT 1', [deviceId]);
    // Unknown count since the last trim: trim at the first insert.
    const known = { key: last ? `${last.state}\0${last.reason ?? ''}\0${last.sequence}\0${last.target_sequence ?? ''}` : '', sinceTrim: TRIM_EVERY - 1 };
    if (this.newest.size >= REMEMBERED_MAX) this.newest.clear();
    this.newest.set(deviceId, known);
    return known;
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
