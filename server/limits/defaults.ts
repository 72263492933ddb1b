// Every rate limit the server enforces, with its default, in one place (docs/security.md lists
// them with where they are enforced). Defaults never slow a legitimate device: a full update of
// the largest module the server accepts fits in the chunk budget twice over.
import { WfError } from '../../protocol/errors.js';
import type { BucketSpec } from './token-bucket.js';

export interface Limits {
  /** MQTT CONNECTs per device id (embedded broker). */
  mqttConnects: BucketSpec;
  /** hello, online, report and telemetry messages per device (server link, any broker). */
  deviceMessages: BucketSpec;
  /** Chunk bytes a device may request (each chunk/get costs its chunk size; server link). */
  chunkBytes: BucketSpec;
  /** Failed MQTT logins per source address (embedded broker); when spent, logins are refused. */
  mqttFailedLogins: BucketSpec;
  /** Failed operator API authentications per source address; when spent, requests get 429. */
  apiFailedAuth: BucketSpec;
  /** At most one log line per key (device, address, cause) in this interval. */
  logIntervalMs: number;
}

export function defaultLimits(maxModuleBytes: number): Limits {
  return {
    mqttConnects: { capacity: 10, perSecond: 1 / 6 },
    deviceMessages: { capacity: 200, perSecond: 20 },
    chunkBytes: { capacity: 2 * maxModuleBytes, perSecond: 1024 * 1024 },
    mqttFailedLogins: { capacity: 20, perSecond: 1 / 5 },
    apiFailedAuth: { capacity: 10, perSecond: 1 / 5 },
    logIntervalMs: 60_000,
  };
}

const BUCKETS = ['mqttConnects', 'deviceMessages', 'chunkBytes', 'mqttFailedLogins', 'apiFailedAuth'] as const;

/** Validate operator-given overrides: known keys only, positive finite numbers. */
export function checkLimits(value: unknown, what: string): Partial<Limits> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WfError('REQUEST_INVALID', `${what}: expected a JSON object`);
  const out: Partial<Limits> = {};
  const positive = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new WfError('REQUEST_INVALID', `${what}: ${field} must be a positive number`);
    return v;
  };
  for (const [key, v] of Object.entries(value)) {
    if (key === 'logIntervalMs') out.logIntervalMs = positive(v, key);
    else if ((BUCKETS as readonly string[]).includes(key)) {
      const b = v as Partial<BucketSpec> | null;
      if (typeof b !== 'object' || b === null) throw new WfError('REQUEST_INVALID', `${what}: ${key} must be {"capacity", "perSecond"}`);
      const extra = Object.keys(b).filter((k) => k !== 'capacity' && k !== 'perSecond');
      if (extra.length) throw new WfError('REQUEST_INVALID', `${what}: ${key}.${extra[0]} is not a limit field`);
      out[key as (typeof BUCKETS)[number]] = { capacity: positive(b.capacity, `${key}.capacity`), perSecond: positive(b.perSecond, `${key}.perSecond`) };
    } else throw new WfError('REQUEST_INVALID', `${what}: unknown limit "${key}" (known: ${[...BUCKETS, 'logIntervalMs'].join(', ')})`);
  }
  return out;
}
