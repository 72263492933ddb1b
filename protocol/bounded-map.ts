// A Map that keeps at most `limit` entries, dropping the least recently used first: for memos of
// pure functions that a process may call on many different inputs (device-sim/shared-work.ts,
// protocol/verify-memo.ts).
export class BoundedMap<K, V> {
  private readonly m = new Map<K, V>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('limit must be at least 1');
  }

  get size(): number {
    return this.m.size;
  }

  /** The value, now the most recently used one. */
  get(key: K): V | undefined {
    const v = this.m.get(key);
    if (v !== undefined) {
      this.m.delete(key);
      this.m.set(key, v);
    }
    return v;
  }

  /** Remember `value` (the oldest entry goes when full); returns it. */
  set(key: K, value: V): V {
    if (!this.m.has(key) && this.m.size >= this.limit) this.m.delete(this.m.keys().next().value as K);
    this.m.delete(key);
    this.m.set(key, value);
    return value;
  }

  clear(): void {
    this.m.clear();
  }
}
