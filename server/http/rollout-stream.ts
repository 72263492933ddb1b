// Live rollout snapshots for the console (docs/console.md §the rollout stream). One watcher per
// rollout, however many browsers watch it: it builds the snapshot (grouped counts, never the
// member list) when the engine says the rollout was stepped, at most once per `minIntervalMs`,
// and on a slow timer as a fallback (a server instance that does not run the engine, or a change
// made by another instance). A snapshot goes out only when it differs from the last one.
import type { Logger } from 'pino';
import type { RolloutLiveView, RolloutStreamEnd } from '../../protocol/views.js';

export interface StreamOptions {
  /** Coalescing: at most one snapshot per rollout per this many ms. */
  minIntervalMs: number;
  /** The fallback refresh. */
  refreshMs: number;
  /** Comment lines that keep proxies from closing an idle stream. */
  heartbeatMs: number;
}

export const STREAM_DEFAULTS: StreamOptions = { minIntervalMs: 250, refreshMs: 5000, heartbeatMs: 15_000 };

/** One browser's stream: what the watcher may write to it. */
export interface Subscriber {
  snapshot(view: RolloutLiveView): void;
  end(end: RolloutStreamEnd): void;
  heartbeat(): void;
  /** The server shuts down: close without an end event (the browser reconnects to the next server). */
  close(): void;
}

type Load = (id: string) => Promise<RolloutLiveView | undefined>;

class Watcher {
  readonly subscribers = new Set<Subscriber>();
  private last: RolloutLiveView | undefined;
  private lastText = '';
  private lastLoadAt = 0;
  private scheduled: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  private again = false;
  private readonly refresh: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;
  ended = false;

  constructor(
    readonly id: string,
    private readonly load: Load,
    private readonly o: StreamOptions,
    private readonly log: Logger,
    private readonly onEnd: (w: Watcher) => void,
  ) {
    this.refresh = setInterval(() => this.changed(), o.refreshMs);
    this.heartbeat = setInterval(() => this.subscribers.forEach((s) => s.heartbeat()), o.heartbeatMs);
    this.refresh.unref();
    this.heartbeat.unref();
  }

  /** A new browser gets the last snapshot at once (or the first one, when it is loaded). */
  add(s: Subscriber): void {
    this.subscribers.add(s);
    if (this.last) s.snapshot(this.last);
    else this.changed();
  }

  /** Something may have changed: load again, no sooner than minIntervalMs after the last load. */
  changed(): void {
    if (this.ended || this.scheduled) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    const wait = Math.max(0, this.lastLoadAt + this.o.minIntervalMs - Date.now());
    this.scheduled = setTimeout(() => {
      this.scheduled = null;
      this.loading = this.reload().finally(() => {
        this.loading = null;
        if (this.again) {
          this.again = false;
          this.changed();
        }
      });
    }, wait);
  }

  private async reload(): Promise<void> {
    this.lastLoadAt = Date.now();
    let view: RolloutLiveView | undefined;
    try {
      view = await this.load(this.id);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, rollout: this.id }, 'rollout stream: snapshot failed; next refresh retries');
      return;
    }
    if (this.ended) return;
    if (!view) {
      this.finish({ id: this.id, reason: 'ROLLOUT_NOT_FOUND', state: null });
      return;
    }
    const text = JSON.stringify({ ...view, at: 0 });
    if (text !== this.lastText) {
      this.lastText = text;
      this.last = view;
      for (const s of this.subscribers) s.snapshot(view);
    }
    if (view.final) this.finish({ id: this.id, reason: 'ROLLOUT_FINISHED', state: view.state });
  }

  private finish(end: RolloutStreamEnd): void {
    for (const s of this.subscribers) s.end(end);
    this.subscribers.clear();
    this.stop();
  }

  stop(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.refresh);
    clearInterval(this.heartbeat);
    if (this.scheduled) clearTimeout(this.scheduled);
    this.onEnd(this);
  }
}

export class RolloutWatchers {
  private readonly watchers = new Map<string, Watcher>();

  constructor(
    private readonly load: Load,
    private readonly log: Logger,
    private readonly o: StreamOptions = STREAM_DEFAULTS,
  ) {}

  /** The engine's notification: the rollouts it stepped. Only watched ones cost anything. */
  changed(ids: string[]): void {
    for (const id of ids) this.watchers.get(id)?.changed();
  }

  /** Watch a rollout; returns the unsubscribe (the watcher stops with its last subscriber). */
  subscribe(id: string, s: Subscriber): () => void {
    let w = this.watchers.get(id);
    if (!w) {
      w = new Watcher(id, this.load, this.o, this.log, (done) => {
        if (this.watchers.get(done.id) === done) this.watchers.delete(done.id);
      });
      this.watchers.set(id, w);
    }
    const watcher = w;
    watcher.add(s);
    return () => {
      watcher.subscribers.delete(s);
      if (watcher.subscribers.size === 0) watcher.stop();
    };
  }

  /** How many rollouts are watched (tests: one watcher whatever the number of browsers). */
  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    for (const w of [...this.watchers.values()]) {
      for (const s of w.subscribers) s.close();
      w.subscribers.clear();
      w.stop();
    }
  }
}
