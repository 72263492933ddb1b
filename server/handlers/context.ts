// What every topic handler may use. Handlers are plain async functions, one file per topic kind
// (aedes' lib/handlers habit), called by the link with the device id already parsed; the link's
// dispatch awaits each and logs what it throws.
import type { Logger } from 'pino';
import type { ChunkStreams } from './chunk-stream.js';
import type { DeviceRates } from '../limits/device-rates.js';
import type { BlobStore } from '../store/blobs.js';
import type { DeviceRepo } from '../store/devices.js';
import type { DirectiveRepo } from '../store/directives.js';
import type { DeviceEventRepo } from '../store/device-events.js';
import type { TelemetrySeries } from '../store/telemetry-series.js';

export interface HandlerContext {
  devices: DeviceRepo;
  directives: DirectiveRepo;
  blobs: BlobStore;
  rates: DeviceRates;
  log: Logger;
  /** The console's bounded history of each device's reports (absent: not kept). */
  events?: DeviceEventRepo;
  /** The console's recent telemetry values (absent: only the latest are kept). */
  series?: TelemetrySeries;
  /** Tell the rollout engine that a device said something (it looks at it on its next tick). */
  changed?(deviceId: string, why: 'report' | 'hello' | 'online'): void;
  /**
   * Publish to the broker as the server. `done` is called once the broker took the message (the
   * embedded broker: handed to every subscriber's connection; an external one: written to the
   * link's socket), with the error if it failed: the chunk carousels pace themselves by it.
   */
  publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain?: boolean }, done?: (err?: Error) => void): void;
  /** Chunk fan-out (chunk-stream.ts); absent when the server runs with --no-fanout. */
  streams?: ChunkStreams;
}

export type TopicHandler = (ctx: HandlerContext, deviceId: string, payload: Uint8Array) => Promise<void>;
