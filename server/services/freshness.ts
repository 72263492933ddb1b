// Freshness publishing (protocol.md §3.6, TUF's timestamp role): every interval the server signs a
// statement valid for ttl seconds with the director key and publishes it retained on the fleet
// topic, with the key document (and root chain) so that a device that never got a directive can
// check it. issued_at strictly increases, so devices can refuse an older statement.
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { encodeFreshnessMessage } from '../../protocol/messages.js';
import { signFreshness } from '../../protocol/payloads/freshness.js';
import { FRESHNESS_TOPIC } from '../../protocol/topics.js';
import type { Link } from '../link.js';
import type { Trust } from '../trust.js';

export interface FreshnessOptions {
  /** Seconds between statements (default 600). */
  intervalSeconds?: number;
  /** Validity of one statement in seconds (default 3600): devices go stale this long after the last one. */
  ttlSeconds?: number;
  /** The clock statements are signed with (seconds); tests move it. */
  clock?: () => number;
}

export const FRESHNESS_DEFAULTS = { intervalSeconds: 600, ttlSeconds: 3600 } as const;

export interface FreshnessPublisher {
  /** Sign and publish one statement now; returns its issued_at. */
  publishNow(): number;
  /** Stop the periodic statements (as a frozen or withheld server would). */
  pause(): void;
  resume(): void;
  close(): void;
}

/** Refuse settings under which devices would go stale between two statements. */
export function checkFreshnessOptions(opts: FreshnessOptions = {}): { interval: number; ttl: number } {
  const interval = opts.intervalSeconds ?? FRESHNESS_DEFAULTS.intervalSeconds;
  const ttl = opts.ttlSeconds ?? FRESHNESS_DEFAULTS.ttlSeconds;
  if (!(interval > 0 && ttl > interval)) {
    throw new WfError('REQUEST_INVALID', `freshness: the statement lifetime (${ttl} s) must exceed the interval (${interval} s)`);
  }
  return { interval, ttl };
}

export function startFreshness(deps: { trust: () => Trust; publish: Link['publish']; log: Logger; now: () => number }, opts: FreshnessOptions = {}): FreshnessPublisher {
  const { interval, ttl } = checkFreshnessOptions(opts);
  const clock = opts.clock ?? deps.now;
  let last = 0;
  let timer: NodeJS.Timeout | null = null;

  const publishNow = (): number => {
    const issuedAt = Math.max(clock(), last + 1);
    last = issuedAt;
    const trust = deps.trust();
    const statement = signFreshness({ issuedAt, expires: issuedAt + ttl }, trust.director);
    deps.publish(FRESHNESS_TOPIC, encodeFreshnessMessage({ keyDocument: trust.keyDocumentBytes, statement, roots: trust.roots }), { qos: 1, retain: true });
    return issuedAt;
  };
  const tick = () => {
    try {
      publishNow();
    } catch (err) {
      deps.log.error({ err }, 'freshness statement not published');
    }
  };
  const resume = () => {
    if (timer) return;
    tick();
    timer = setInterval(tick, interval * 1000);
    timer.unref();
  };
  const pause = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  resume();
  return { publishNow, pause, resume, close: pause };
}
