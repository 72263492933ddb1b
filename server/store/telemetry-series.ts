// Recent telemetry per device and name, for the console's small charts (docs/console.md): a ring of
// KEEP time buckets (the latest value in each), written in batches like the latest values
// (store/telemetry.ts). Bounded three ways, since telemetry names come from devices: a device
// keeps at most MAX_NAMES names in the ring, each name at most KEEP rows (the slot wraps), and
// rows older than the ring's window are swept.
import type { Logger } from 'pino';
import { ThrottledLog } from '../limits/token-bucket.js';
import type { Sql } from './sql.js';
import { storeErrorOf } from './store-errors.js';

export interface SeriesOptions {
  bucketMs: number;
  keep: number;
  maxNames: number;
  flushMs: number;
  maxPending: number;
  /** Devices whose accepted names are remembered (the oldest are forgotten beyond it). */
  maxDevicesTracked: number;
  warnIntervalMs: number;
}

export const SERIES_DEFAULTS: SeriesOptions = { bucketMs: 5000, keep: 60, maxNames: 16, flushMs: 1000, maxPending: 500, maxDevicesTracked: 200_000, warnIntervalMs: 60_000 };

interface Point {
  device: string;
  name: string;
  slot: number;
  value: number;
  at: number;
}

export class TelemetrySeries {
  private pending = new Map<string, Point>();
  /** device → names it may keep in the ring (first come, up to maxNames). */
  private readonly names = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;
  private readonly warned: ThrottledLog;
  private flushing: Promise<void> = Promise.resolve();
  private lastSweep = 0;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    readonly o: SeriesOptions = SERIES_DEFAULTS,
    private readonly clock: () => number = Date.now,
  ) {
    this.warned = new ThrottledLog(o.warnIntervalMs);
    this.timer = setInterval(() => void this.flush(), o.flushMs);
    this.timer.unref();
  }

  /** A value as it arrives (server time: a device's clock may lie). */
  record(device: string, name: string, value: number): void {
    if (!this.admit(device, name)) return;
    const at = this.clock();
    const slot = Math.floor(at / this.o.bucketMs) % this.o.keep;
    this.pending.set(`${device}\u0000${name}\u0000${slot}`, { device, name, slot, value, at });
    if (this.pending.size >= this.o.maxPending) void this.flush();
  }

  private admit(device: string, name: string): boolean {
    let set = this.names.get(device);
    if (!set) {
      if (this.names.size >= this.o.maxDevicesTracked) this.names.delete(this.names.keys().next().value!);
      set = new Set();
      this.names.set(device, set);
    }
    if (set.has(name)) return true;
    if (set.size >= this.o.maxNames) return false;
    set.add(name);
    return true;
  }

  /** Write what is pending (one transaction) and sweep rows that fell out of the window. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    const now = this.clock();
    const batch = this.pending;
    this.pending = new Map();
    try {
      if (batch.size > 0) {
        await this.sql.tx(async (q) => {
          for (const p of batch.values()) {
            await q.run(
              `INSERT INTO telemetry_series (device_id, name, slot, value, at_ms) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (device_id, name, slot) DO UPDATE SET value = excluded.value, at_ms = excluded.at_ms`,
              [p.device, p.name, p.slot, p.value, p.at],
            );
          }
        });
      }
      if (now - this.lastSweep >= this.o.bucketMs * this.o.keep) {
        this.lastSweep = now;
        await this.sql.run('DELETE FROM telemetry_series WHERE at_ms < ?', [now - this.o.bucketMs * this.o.keep]);
      }
    } catch (err) {
      for (const [k, p] of batch) if (!this.pending.has(k)) this.pending.set(k, p);
      const typed = storeErrorOf(err);
      this.warned.note('flush', (more) =>
        this.log.warn({ code: typed?.code ?? 'INTERNAL', err: (typed ?? (err as Error)).message, held: this.pending.size, failedFlushes: more + 1 }, 'telemetry series not written; held in memory, retrying'),
      );
    }
  }

  /** Recent points of one device, per name, oldest first (pending ones included). */
  async of(device: string): Promise<Array<{ name: string; points: Array<{ at: number; value: number }> }>> {
    const since = this.clock() - this.o.bucketMs * this.o.keep;
    const rows = await this.sql.all<{ name: string; slot: number; value: number; at_ms: number }>(
      'SELECT name, slot, value, at_ms FROM telemetry_series WHERE device_id = ? AND at_ms >= ?',
      [device, since],
    );
    const bySlot = new Map<string, { name: string; at: number; value: number }>();
    for (const r of rows) bySlot.set(`${r.name}\u0000${r.slot}`, { name: r.name, at: r.at_ms, value: r.value });
    for (const p of this.pending.values()) if (p.device === device && p.at >= since) bySlot.set(`${p.name}\u0000${p.slot}`, { name: p.name, at: p.at, value: p.value });
    const byName = new Map<string, Array<{ at: number; value: number }>>();
    for (const p of bySlot.values()) byName.set(p.name, [...(byName.get(p.name) ?? []), { at: p.at, value: p.value }]);
    return [...byName.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, points]) => ({ name, points: points.sort((a, b) => a.at - b.at) }));
  }

  /** Stop the timer without writing (the store is closing on a failed start). */
  stop(): void {
    clearInterval(this.timer);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
