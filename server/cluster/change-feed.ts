// What one server instance tells the others sharing its store (docs/scale-out.md, "caches"):
// the in-memory caches that assume one instance are invalidated, and device events that a
// follower handled reach the leader's rollout engine. Two implementations of one interface:
//   LocalChangeFeed: an in-process emitter (SQLite: one process; tests may share one bus between
//     several instances in a process);
//   PgChangeFeed: PostgreSQL LISTEN/NOTIFY on one channel, over a dedicated connection.
// An instance never hears its own changes back: it has already applied them to its own caches.
// A listener that lost its connection may have missed changes, so it is told to `resync`
// (drop every cache, re-read every live rollout) once it is listening again.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';

export type DeviceEventKind = 'report' | 'hello' | 'online' | 'tags' | 'new';

export type Change =
  /** A device's credentials were taken back or replaced (revoke, rotate): forget the cached ones. */
  | { kind: 'credentials'; key: string }
  /** Operator tokens were created or revoked. */
  | { kind: 'tokens' }
  /** A rollout's row or members were changed by an operator action on some instance. */
  | { kind: 'rollout'; key: string }
  /** The leading engine stepped these rollouts: live views (the console's streams) on the others refresh. */
  | { kind: 'stepped'; keys: string[] }
  /** A device said something (or was added, re-tagged): the leading engine looks at it. */
  | { kind: 'device'; key: string; why: DeviceEventKind }
  /** Changes may have been missed (a dropped listener connection): drop and re-read everything. */
  | { kind: 'resync' };

export type ChangeListener = (change: Change) => void;

export interface ChangeFeed {
  /** This instance's id on the feed (its own changes are not delivered back to it). */
  readonly instanceId: string;
  /** Tell the other instances; never throws (a lost change is covered by `resync` and the engine's periodic checks). */
  publish(change: Change): void;
  subscribe(listener: ChangeListener): () => void;
  close(): Promise<void>;
}

export const newInstanceId = () => randomBytes(6).toString('hex');

type Envelope = { from: string; changes: Change[] };

/** A bus several in-process instances may share; by default each feed has its own (one instance). */
export class LocalChangeBus extends EventEmitter {}

export class LocalChangeFeed implements ChangeFeed {
  readonly instanceId = newInstanceId();
  private readonly onEnvelope = (e: Envelope) => {
    if (e.from !== this.instanceId) for (const c of e.changes) this.deliver(c);
  };
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly bus: LocalChangeBus = new LocalChangeBus()) {
    bus.setMaxListeners(0);
    bus.on('changes', this.onEnvelope);
  }

  publish(change: Change): void {
    // Asynchronous like NOTIFY: the publisher's transaction and its callers finish first.
    queueMicrotask(() => this.bus.emit('changes', { from: this.instanceId, changes: [change] } satisfies Envelope));
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(c: Change): void {
    for (const l of this.listeners) l(c);
  }

  async close(): Promise<void> {
    this.bus.off('changes', this.onEnvelope);
    this.listeners.clear();
  }
}

export const CHANGE_CHANNEL = 'wasmfleet_changes';
/** NOTIFY payloads must stay under 8,000 bytes. */
const PAYLOAD_MAX = 7000;
/** Changes published within this window travel in one NOTIFY (a rollout's reports come in bursts). */
const BATCH_MS = 10;

export interface PgChangeFeedOptions {
  connectionString: string;
  log: Logger;
  /** How long to wait before dialling again after the connection dropped (ms). */
  reconnectMs?: number;
}

/**
 * LISTEN/NOTIFY over one dedicated connection (a pooled one would be handed to other queries and
 * stop listening). Publishing is batched: one NOTIFY per 10 ms window, split below the payload cap.
 */
export class PgChangeFeed implements ChangeFeed {
  readonly instanceId = newInstanceId();
  private client: pg.Client | null = null;
  private readonly listeners = new Set<ChangeListener>();
  private queue: Change[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private everConnected = false;

  private constructor(private readonly opts: PgChangeFeedOptions) {}

  /** Listening before it returns: a change made by another instance after this is heard. */
  static async start(opts: PgChangeFeedOptions): Promise<PgChangeFeed> {
    const feed = new PgChangeFeed(opts);
    await feed.connect();
    return feed;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.connectionString, keepAlive: true, application_name: `wasmfleet-changes-${this.instanceId}` });
    client.on('error', (err) => this.dropped(client, err));
    client.on('end', () => this.dropped(client, new Error('connection ended')));
    client.on('notification', (n) => {
      if (n.channel === CHANGE_CHANNEL && n.payload) this.onPayload(n.payload);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    this.client = client;
    // Changes made while we were not listening are lost: everyone who caches drops it all.
    if (this.everConnected) this.deliver({ kind: 'resync' });
    this.everConnected = true;
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private dropped(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners('notification');
    void client.end().catch(() => {});
    if (this.closed) return;
    this.opts.log.warn({ err: err.message }, 'change feed: PostgreSQL connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((err: Error) => {
        this.opts.log.warn({ err: err.message }, 'change feed: reconnect failed');
        this.scheduleReconnect();
      });
    }, this.opts.reconnectMs ?? 1000);
    this.reconnectTimer.unref();
  }

  private onPayload(payload: string): void {
    let e: Envelope;
    try {
      e = JSON.parse(payload) as Envelope;
    } catch {
      return; // not ours
    }
    if (!e || typeof e.from !== 'string' || e.from === this.instanceId || !Array.isArray(e.changes)) return;
    for (const c of e.changes) if (c && typeof c === 'object' && typeof c.kind === 'string') this.deliver(c);
  }

  private deliver(c: Change): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (err) {
        this.opts.log.error({ err, change: c.kind }, 'change feed: listener failed');
      }
    }
  }

  publish(change: Change): void {
    if (this.closed) return;
    this.queue.push(change);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, BATCH_MS);
  }

  /** Send what is queued, as few NOTIFYs as fit; on failure the changes stay queued for the next connection. */
  async flush(): Promise<void> {
    const client = this.client;
    if (!client || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const payloads = packPayloads(this.instanceId, batch);
    try {
      for (const p of payloads) await client.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, p]);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, changes: batch.length }, 'change feed: NOTIFY failed; other instances resync on reconnect');
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flush();
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    this.listeners.clear();
    await client?.end().catch(() => {});
  }
}

/** Envelopes of at most PAYLOAD_MAX bytes each, in order. */
export function packPayloads(from: string, changes: Change[]): string[] {
  const out: string[] = [];
  let current: Change[] = [];
  const encode = (cs: Change[]) => JSON.stringify({ from, changes: cs } satisfies Envelope);
  for (const c of changes) {
    current.push(c);
    if (Buffer.byteLength(encode(current)) > PAYLOAD_MAX && current.length > 1) {
      current.pop();
      out.push(encode(current));
      current = [c];
    }
  }
  if (current.length > 0) out.push(encode(current));
  return out;
}
