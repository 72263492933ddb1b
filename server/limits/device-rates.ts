// Per-device message budgets, enforced where the server reads device messages (the link), so they
// hold for the embedded broker and an external one alike. Over budget, a message is dropped
// unread: a device that floods gets nothing more from the server, and the others are not slowed.
import type { Logger } from 'pino';
import type { DeviceTopic } from '../../protocol/topics.js';
import type { Limits } from './defaults.js';
import { ThrottledLog, TokenBuckets } from './token-bucket.js';

export class DeviceRates {
  private readonly messages: TokenBuckets;
  private readonly chunkBytes: TokenBuckets;
  private readonly logged: ThrottledLog;

  constructor(
    limits: Limits,
    private readonly log: Logger,
  ) {
    this.messages = new TokenBuckets(limits.deviceMessages);
    this.chunkBytes = new TokenBuckets(limits.chunkBytes);
    this.logged = new ThrottledLog(limits.logIntervalMs);
  }

  private dropped(deviceId: string, what: string): false {
    this.logged.note(`${deviceId} ${what}`, (more) => this.log.warn({ device: deviceId, what, more }, 'device over its rate limit: messages dropped'));
    return false;
  }

  /** hello, online, report, telemetry: one token each. */
  allowMessage(deviceId: string, kind: DeviceTopic): boolean {
    return this.messages.take(deviceId) || this.dropped(deviceId, kind);
  }

  /** A chunk request costs the bytes it asks for. */
  allowChunk(deviceId: string, bytes: number): boolean {
    return this.chunkBytes.take(deviceId, bytes) || this.dropped(deviceId, 'chunk/get');
  }

  /** A stream request costs, from the same budget, the bytes it asks to be sent: from its index to the end of the image. */
  allowStream(deviceId: string, bytes: number): boolean {
    return this.chunkBytes.take(deviceId, bytes) || this.dropped(deviceId, 'chunk/stream');
  }
}
