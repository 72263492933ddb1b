// An in-memory cache in front of the store, for the hot paths (credentials on every MQTT connect
// and message, the images a device may fetch on every chunk request, releases by digest).
// Filled from the store on a miss, and dropped by the repository's own writes through
// `invalidate(key?)` — the one call anything else that learns of a change (another server
// instance, through the store) makes too.
//
// A miss inside a transaction reads through that transaction's runner (`get(key, q)`): on SQLite
// a statement on the outer Sql waits for the open transaction to end, so it must not be used there.
//
// A load that was in flight while its key was invalidated is not kept: it may have read the row
// before the write, and keeping it would bring back what the write took away (a revoked
// password, say). Concurrent misses of one key share one load.

import type { SqlRunner } from './sql.js';

export class StoreCache<K, V> {
  private readonly values = new Map<K, V>();
  private readonly loading = new Map<K, Promise<V | undefined>>();
  /** Bumped by every invalidation: a load started under an older generation is not kept. */
  private generation = 0;
  /** The generation of the last full invalidation: every key is at least this new. */
  private epoch = 0;
  private readonly keyGeneration = new Map<K, number>();

  /**
   * @param load reads one key from the store; undefined (not found) is never cached, so a row
   *   created later is seen at once.
   * @param maxEntries beyond this many, the oldest entries are dropped.
   */
  constructor(
    private readonly load: (key: K, q?: SqlRunner) => Promise<V | undefined>,
    private readonly maxEntries = 1_000_000,
  ) {}

  /** The cached value, if present (no store access). */
  peek(key: K): V | undefined {
    return this.values.get(key);
  }

  async get(key: K, q?: SqlRunner): Promise<V | undefined> {
    const hit = this.values.get(key);
    if (hit !== undefined) return hit;
    // Inside a transaction: its own read (a shared load may be waiting for that very transaction).
    if (q) return this.loadAndKeep(key, q);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.loadAndKeep(key).finally(() => {
        if (this.loading.get(key) === pending) this.loading.delete(key);
      });
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async loadAndKeep(key: K, q?: SqlRunner): Promise<V | undefined> {
    const started = this.generationOf(key);
    const v = await this.load(key, q);
    if (v !== undefined && this.generationOf(key) === started) this.set(key, v);
    return v;
  }

  /**
   * Change a cached value in place (a write that extends it); loads in flight are dropped. With
   * `start`, an absent key starts from it: only for caches whose readers treat a value as a
   * lower bound and ask the store on a miss (DirectiveRepo.mayFetch), never for one that must be
   * complete.
   */
  update(key: K, change: (v: V) => V, start?: () => V): void {
    this.bump(key);
    const v = this.values.get(key);
    if (v !== undefined) this.values.set(key, change(v));
    else if (start) this.set(key, change(start()));
  }

  /** Forget one key, or everything: the next read goes to the store. */
  invalidate(key?: K): void {
    if (key === undefined) {
      this.epoch = ++this.generation;
      this.keyGeneration.clear();
      this.values.clear();
      this.loading.clear();
      return;
    }
    this.bump(key);
    this.values.delete(key);
  }

  private set(key: K, v: V): void {
    if (this.values.size >= this.maxEntries) this.values.delete(this.values.keys().next().value as K);
    this.values.set(key, v);
  }

  private bump(key: K): void {
    this.loading.delete(key);
    this.keyGeneration.set(key, ++this.generation);
  }

  private generationOf(key: K): number {
    return Math.max(this.keyGeneration.get(key) ?? 0, this.epoch);
  }
}
