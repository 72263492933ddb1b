// The device's kv store, per component: kept in memory, written to the state directory in
// batches (one atomic file write per component per 100 ms at most). A trial's kv writes are
// undone when the trial is reverted: the store keeps a copy taken before the trial ran
// (on disk, so a revert after a restart restores it too).
import type { StateDir } from './slots.js';

export type KvEntries = Record<string, string>;

export class KvStore {
  private readonly cache = new Map<string, KvEntries>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly store: StateDir) {}

  /** The live entries of a component (hex key → hex value). */
  entries(component: string): KvEntries {
    let kv = this.cache.get(component);
    if (!kv) {
      kv = this.store.loadKv(component);
      this.cache.set(component, kv);
    }
    return kv;
  }

  set(component: string, key: string, value: string): void {
    this.entries(component)[key] = value;
    this.dirty.add(component);
    if (!this.timer && !this.closed) this.timer = setTimeout(() => this.flush(), 100);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.dirty) this.store.saveKv(c, this.entries(c));
    this.dirty.clear();
  }

  /**
   * Before a trial of `component` runs: keep what it has now, to restore on revert. A trial
   * resumed after a restart keeps the copy taken when it first ran.
   */
  beginTrial(component: string, sequence: number): void {
    this.flush();
    if (this.store.loadKvBackup(component)?.sequence === sequence) return;
    this.store.saveKvBackup(component, { sequence, kv: this.entries(component) });
  }

  /** The trial passed: its kv stays. */
  commitTrial(component: string): void {
    this.store.dropKvBackup(component);
  }

  /** The trial failed: its kv writes are undone. */
  revertTrial(component: string): void {
    const before = this.store.loadKvBackup(component)?.kv;
    if (!before) return;
    this.dirty.delete(component);
    this.cache.set(component, before);
    this.store.saveKv(component, before);
    this.store.dropKvBackup(component);
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}
