// How one server instance takes part in a fleet served by several (docs/scale-out.md):
//   leadership → the rollout engine's loop and the link's device-state subscriptions run here or not;
//   change feed in → caches forget what another instance changed; the leading engine hears of
//     rollouts changed elsewhere and of device events a follower saw (API: new device, new tags);
//     a follower's live rollout views hear what the leader's engine stepped;
//   change feed out ← this instance's own changes (set as hooks on the repositories and the engine).
// With SQLite the instance is alone: it leads from the start and the feed has no other listener.
import type { Logger } from 'pino';
import type { RolloutEngine } from '../rollouts/engine.js';
import type { DeviceRepo } from '../store/devices.js';
import type { TokenRepo } from '../store/tokens.js';
import { LocalChangeFeed, PgChangeFeed, type Change, type ChangeFeed } from './change-feed.js';
import { PgLeadership, soleLeader, type Leadership } from './leadership.js';

export interface ClusterStatus {
  /** This instance's id on the change feed (also in its log lines). */
  instance: string;
  /** Whether this instance runs the rollout engine. */
  leader: boolean;
  /** 'single' (SQLite: one instance) or 'postgres' (several may share the store). */
  mode: 'single' | 'postgres';
}

export interface Cluster {
  feed: ChangeFeed;
  leadership: Leadership;
  status(): ClusterStatus;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** postgres://… when the store is PostgreSQL: leadership lock and change feed there. */
  postgresUrl?: string;
  /** How often a follower tries to take the lead (ms). */
  leaderRetryMs?: number;
  log: Logger;
}

/** Leadership and change feed for this instance, before anything that depends on them starts. */
export async function openCluster(opts: ClusterOptions): Promise<Cluster> {
  if (!opts.postgresUrl) {
    const feed = new LocalChangeFeed();
    const leadership = soleLeader();
    return { feed, leadership, status: () => ({ instance: feed.instanceId, leader: true, mode: 'single' }), close: () => feed.close() };
  }
  const feed = await PgChangeFeed.start({ connectionString: opts.postgresUrl, log: opts.log.child({ part: 'changes' }) });
  let leadership: Leadership;
  try {
    leadership = await PgLeadership.start({ connectionString: opts.postgresUrl, log: opts.log.child({ part: 'leader' }), retryMs: opts.leaderRetryMs });
  } catch (err) {
    await feed.close();
    throw err;
  }
  return {
    feed,
    leadership,
    status: () => ({ instance: feed.instanceId, leader: leadership.leading, mode: 'postgres' }),
    async close() {
      await leadership.close();
      await feed.close();
    },
  };
}

export interface ClusterParts {
  engine: RolloutEngine;
  devices: DeviceRepo;
  tokens: TokenRepo;
  /** The external link reads the devices' state only while leading; the in-process one always leads. */
  setLinkLeading?(leading: boolean): Promise<void>;
  log: Logger;
}

/**
 * Wire the instance's parts to the cluster: what arrives on the feed, what leaves on it, and
 * what a change of leadership starts and stops. The engine's `announce` and `forward` hooks are
 * given when it is made (EngineDeps); this sets the repositories' hooks.
 */
export function joinCluster(c: Cluster, p: ClusterParts): void {
  p.devices.onCredentialsChanged = (id) => c.feed.publish({ kind: 'credentials', key: id });
  p.tokens.onChanged = () => c.feed.publish({ kind: 'tokens' });

  c.feed.subscribe((change: Change) => {
    switch (change.kind) {
      case 'credentials':
        p.devices.credentials.invalidate(change.key);
        break;
      case 'tokens':
        p.tokens.live.invalidate();
        break;
      case 'rollout':
        void p.engine.rolloutChanged(change.key).catch((err: unknown) => p.log.error({ err, rollout: change.key }, 'rollout change not applied'));
        break;
      case 'stepped':
        if (!p.engine.active && Array.isArray(change.keys)) p.engine.changed(change.keys.filter((k) => typeof k === 'string'));
        break;
      case 'device':
        if (p.engine.active) p.engine.deviceChanged(change.key, change.why);
        break;
      case 'resync':
        p.devices.credentials.invalidate();
        p.tokens.live.invalidate();
        if (p.engine.active) void p.engine.resync().catch((err: unknown) => p.log.error({ err }, 'rollout engine: resync failed'));
        break;
    }
  });

  // The leader's ticks move the console's live rollout views on every instance.
  p.engine.onChange((ids) => {
    if (p.engine.active) c.feed.publish({ kind: 'stepped', keys: ids });
  });

  const follow = (leading: boolean) => {
    if (leading) p.engine.start();
    else void p.engine.stop();
    void p.setLinkLeading?.(leading);
  };
  c.leadership.onChange(follow);
  if (!c.leadership.leading) void p.engine.stop(); // a follower from the start: device events go to the leader
  else p.engine.start();
}
