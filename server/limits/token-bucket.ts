// Token buckets keyed by a name (device id, source address): `capacity` tokens, refilled at
// `perSecond`. A request takes `cost` tokens or is refused. One implementation for every limit
// the server enforces (MQTT connects, chunk bytes, device messages, failed logins, failed API
// authentication); the limits and their defaults are listed in docs/security.md.

export interface BucketSpec {
  capacity: number;
  perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly spec: BucketSpec,
    private readonly now: () => number = Date.now,
    /** Idle full buckets are forgotten beyond this many keys, so strangers cannot grow the map. */
    private readonly maxKeys = 100_000,
  ) {}

  private refill(key: string): Bucket {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.prune(t);
      b = { tokens: this.spec.capacity, at: t };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.spec.capacity, b.tokens + ((t - b.at) / 1000) * this.spec.perSecond);
    b.at = t;
    return b;
  }

  /** Take `cost` tokens if there are that many; false (and nothing taken) otherwise. */
  take(key: string, cost = 1): boolean {
    const b = this.refill(key);
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** Would `take` succeed? Takes nothing. */
  has(key: string, cost = 1): boolean {
    return this.refill(key).tokens >= cost;
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.spec.perSecond >= this.spec.capacity) this.buckets.delete(k);
    }
    // Still full of busy keys: drop the oldest half rather than grow without bound.
    if (this.buckets.size >= this.maxKeys) {
      let n = Math.floor(this.buckets.size / 2);
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }
}

/**
 * A log line at most once per `intervalMs` per key; the calls in between are counted and reported
 * with the next line ("... and 41 more"). Repeated failures cannot flood the log.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `emit(suppressedSinceLastLine)` when a line is due for `key`. */
  note(key: string, emit: (suppressed: number) => void): void {
    const t = this.now();
    const e = this.last.get(key);
    if (e && t - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(key, { at: t, suppressed: 0 });
    emit(e?.suppressed ?? 0);
  }
}
