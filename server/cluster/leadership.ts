// Which instance runs the rollout engine (docs/scale-out.md, "leadership"). With SQLite the one
// instance always leads. With PostgreSQL the leader is whoever holds a session-level advisory
// lock on a connection of its own: PostgreSQL releases the lock the moment that session ends
// (the process died, was killed, or lost its connection), and the followers, trying every
// `retryMs`, take it over within about that long. The leader checks its connection at the same
// pace and steps down as soon as it fails, before PostgreSQL lets anyone else take the lock.
import pg from 'pg';
import type { Logger } from 'pino';

export interface Leadership {
  readonly leading: boolean;
  /** Called on every change (true: this instance now leads; false: it stopped leading). */
  onChange(listener: (leading: boolean) => void): void;
  close(): Promise<void>;
}

/** The single instance of an embedded (SQLite) store: leads from the start, for good. */
export function soleLeader(): Leadership {
  return { leading: true, onChange: () => {}, close: async () => {} };
}

/** One lock per database: "wfro" (wasmfleet rollouts) as a 32-bit key, in the two-key space. */
export const LEADER_LOCK = { classId: 0x7766726f, objectId: 1 } as const;

export interface PgLeadershipOptions {
  connectionString: string;
  log: Logger;
  /** How often a follower tries to take the lock and the leader checks its connection (ms). */
  retryMs?: number;
}

export class PgLeadership implements Leadership {
  private client: pg.Client | null = null;
  private isLeading = false;
  private readonly listeners: Array<(leading: boolean) => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private closed = false;
  /** A leader that lost its session lets the followers try first for a few rounds (no flapping back). */
  private quietUntil = 0;

  private constructor(private readonly opts: PgLeadershipOptions) {}

  /** Tries once before returning (so a lone instance leads from its first moment), then keeps trying. */
  static async start(opts: PgLeadershipOptions): Promise<PgLeadership> {
    const l = new PgLeadership(opts);
    await l.attempt();
    l.timer = setInterval(() => void l.attempt(), opts.retryMs ?? 1000);
    l.timer.unref();
    return l;
  }

  get leading(): boolean {
    return this.isLeading;
  }

  onChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  private set(leading: boolean): void {
    if (leading === this.isLeading) return;
    this.isLeading = leading;
    this.opts.log.info({ leading }, leading ? 'leadership taken: this instance runs the rollout engine' : 'leadership lost: rollout engine stopped here');
    for (const l of this.listeners) {
      try {
        l(leading);
      } catch (err) {
        this.opts.log.error({ err }, 'leadership listener failed');
      }
    }
  }

  /** One round: (re)connect if needed; a leader proves its session is alive, a follower tries the lock. */
  private async attempt(): Promise<void> {
    if (this.busy || this.closed || Date.now() < this.quietUntil) return;
    this.busy = true;
    try {
      const client = this.client ?? (await this.connect());
      const timeoutMs = this.opts.retryMs ?? 1000;
      if (this.isLeading) {
        await withTimeout(client.query('SELECT 1'), timeoutMs * 2);
      } else {
        const r = await withTimeout(client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LEADER_LOCK.classId, LEADER_LOCK.objectId]), timeoutMs * 2);
        if (r.rows[0]?.ok && !this.closed) this.set(true);
      }
    } catch (err) {
      this.lost(err as Error);
    } finally {
      this.busy = false;
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.opts.connectionString, keepAlive: true, application_name: 'wasmfleet-leader-lock' });
    client.on('error', (err) => {
      if (this.client === client) this.lost(err);
    });
    client.on('end', () => {
      if (this.client === client) this.lost(new Error('connection ended'));
    });
    await client.connect();
    this.client = client;
    return client;
  }

  /** The lock's session is gone (or unusable): whatever PostgreSQL decides, we no longer lead. */
  private lost(err: Error): void {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => {});
    if (!this.closed) this.opts.log.warn({ err: err.message, wasLeading: this.isLeading }, 'leadership connection failed; trying again');
    if (this.isLeading) this.quietUntil = Date.now() + 3 * (this.opts.retryMs ?? 1000);
    this.set(false);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.client = null;
    this.set(false);
    // Ending the session releases the lock at once: a follower takes over on its next try.
    await client?.end().catch(() => {});
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]);
}
