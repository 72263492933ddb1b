// Every rate limit the server enforces, with its default, in one place (docs/security.md lists
// them with where they are enforced). Defaults never slow a legitimate device: a full update of
// the largest module the server accepts fits in the chunk budget twice over.
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
