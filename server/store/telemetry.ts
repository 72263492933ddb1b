// Telemetry is the chattiest device message: it is written in batches, not one SQLite write per
// message. The latest value per (device, name) waits in memory and is flushed every `flushMs` or
// when `maxPending` rows wait, in one transaction (one flush at a time). When the disk refuses (full, read-only), the
// pending values are kept for the next flush and one warning per interval is logged, not one per
// message. Reads see pending values, so the API is never behind the devices.
import type { Logger } from 'pino';
import { ThrottledLog } from '../limits/token-bucket.js';
import type { Sql } from './sql.js';
import { storeErrorOf } from './store-errors.js';

export interface TelemetryBatchOptions {
  flushMs: number;
  maxPending: number;
  /** Beyond this many pending rows (a disk that stays full), the oldest are dropped. */
  maxHeld: number;
  warnIntervalMs: number;
}

export const TELEMETRY_BATCH_DEFAULTS: TelemetryBatchOptions = { flushMs: 1000, maxPending: 500, maxHeld: 100_000, warnIntervalMs: 60_000 };

interface Point {
  device: string;
  name: string;
  value: number;
  at: number;
}

/**
 * Rows per statement: one round trip writes this many (on PostgreSQL a statement per row would
 * hold the transaction open for hundreds of round trips). A batch has each (device, name) once,
 * as a multi-row upsert needs.
 */
const ROWS_PER_UPSERT = 100;

const upsert = (rows: number) =>
  `INSERT INTO telemetry (device_id, name, value, at) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?)').join(', ')}
   ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, at = excluded.at`;

export class TelemetryBatch {
  private pending = new Map<string, Point>();
  private readonly timer: NodeJS.Timeout;
  private readonly warned: ThrottledLog;
  /** The flush under way: the next one waits for it (values that arrive meanwhile wait in `pending`). */
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly o: TelemetryBatchOptions = TELEMETRY_BATCH_DEFAULTS,
  ) {
    this.warned = new ThrottledLog(o.warnIntervalMs);
    this.timer = setInterval(() => void this.flush(), o.flushMs);
    this.timer.unref();
  }

  record(device: string, name: string, value: number, at: number): void {
    const key = `${device}\u0000${name}`;
    this.pending.delete(key); // re-insert: the map's order is the age of the latest value
    this.pending.set(key, { device, name, value, at });
    if (this.pending.size > this.o.maxHeld) this.pending.delete(this.pending.keys().next().value!);
    if (this.pending.size >= this.o.maxPending && !this.flushing) void this.flush();
  }

  /** Values not yet written for one device (the API overlays them on what is stored). */
  pendingFor(device: string): Point[] {
    return [...this.pending.values()].filter((p) => p.device === device);
  }

  /** Write everything pending in one transaction; on a disk error keep it and warn (throttled). Never rejects. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write(batch).finally(() => (this.flushing = null));
    await this.flushing;
  }

  private async write(batch: Map<string, Point>): Promise<void> {
    try {
      const points = [...batch.values()];
      await this.sql.tx(async (q) => {
        for (let i = 0; i < points.length; i += ROWS_PER_UPSERT) {
          const rows = points.slice(i, i + ROWS_PER_UPSERT);
          await q.run(upsert(rows.length), rows.flatMap((p) => [p.device, p.name, p.value, p.at]));
        }
      });
    } catch (err) {
      // Newer values that arrived meanwhile win over the batch that failed.
      for (const [k, p] of batch) if (!this.pending.has(k)) this.pending.set(k, p);
      const typed = storeErrorOf(err);
      this.warned.note('flush', (more) =>
        this.log.warn({ code: typed?.code ?? 'INTERNAL', err: (typed ?? (err as Error)).message, held: this.pending.size, failedFlushes: more + 1 }, 'telemetry not written; held in memory, retrying'),
      );
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
