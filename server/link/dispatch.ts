// Device message → topic handler, shared by both links. Whatever a handler throws stays here:
// one device's bad input (or a server bug it triggers) is logged with its code, and the link,
// the broker and the API carry on.
import { WfError } from '../../protocol/errors.js';
import { fleetTopic, parseDeviceTopic, TOPIC_RULES, type DeviceTopic } from '../../protocol/topics.js';
import { onChunkGet } from '../handlers/chunk-get.js';
import { onChunkStream } from '../handlers/chunk-stream.js';
import type { HandlerContext, TopicHandler } from '../handlers/context.js';
import { onHello } from '../handlers/hello.js';
import { onOnline } from '../handlers/online.js';
import { onReport } from '../handlers/report.js';
import { onTelemetry } from '../handlers/telemetry.js';

const HANDLERS: Partial<Record<DeviceTopic, TopicHandler>> = {
  hello: onHello,
  online: onOnline,
  report: onReport,
  telemetry: onTelemetry,
  'chunk/get': onChunkGet,
  'chunk/stream': onChunkStream,
};

/** Requests for chunks only read: handled as they come, not queued behind the device's reports. Their cost is in bytes (DeviceRates). */
const CHUNK_REQUESTS: ReadonlySet<DeviceTopic> = new Set(['chunk/get', 'chunk/stream']);

/** The fleet-wide subscriptions the server holds: one per device topic kind it handles. */
export const SERVER_SUBSCRIPTIONS: string[] = Object.keys(HANDLERS).map((kind) => fleetTopic(kind as DeviceTopic));

/**
 * With several instances (docs/scale-out.md): the device's state (hello, online, report: the
 * retained kinds) is read by the leading instance alone, in the broker's order, and on taking
 * the lead it receives the retained copies; requests (chunk/get, chunk/stream) and telemetry are shared, each
 * message handled by one instance of the group.
 */
export const STATE_SUBSCRIPTIONS: string[] = SERVER_SUBSCRIPTIONS.filter((t) => TOPIC_RULES[kindOf(t)].retained);
export const SHARED_SUBSCRIPTIONS: string[] = SERVER_SUBSCRIPTIONS.filter((t) => !STATE_SUBSCRIPTIONS.includes(t));

function kindOf(filter: string): DeviceTopic {
  return filter.slice(fleetTopic('hello').length - 'hello'.length) as DeviceTopic;
}

/** Handles one message; resolves when its handler has finished, and never rejects. */
export type Dispatch = (topic: string, payload: Uint8Array) => Promise<void>;

/**
 * One device's messages are handled in the order they arrived (MQTT keeps it per topic; a device
 * reports `downloading` before `committed`): each waits for the one before it. The store does not
 * order them: on PostgreSQL two handlers run their transactions on two connections at once, and
 * the later report could land first and be overwritten by the earlier one. Chunk requests only
 * read, and stay concurrent. A device that sends faster than its messages are handled finds the
 * queue full and its excess dropped (the rate limits drop it a moment later anyway).
 */
export const MAX_QUEUED_PER_DEVICE = 64;

class DeviceOrder {
  private readonly queues = new Map<string, { tail: Promise<void>; length: number }>();

  /** Run `fn` after the device's earlier messages; false when its queue is full (fn not run). */
  run(device: string, fn: () => Promise<void>): Promise<void> | false {
    const q = this.queues.get(device);
    if (q && q.length >= MAX_QUEUED_PER_DEVICE) return false;
    const entry = q ?? { tail: Promise.resolve(), length: 0 };
    entry.length++;
    const mine = entry.tail.then(fn).finally(() => {
      // The last in the chain clears it: the map holds only devices with messages in flight.
      if (--entry.length === 0) this.queues.delete(device);
    });
    entry.tail = mine;
    this.queues.set(device, entry);
    return mine;
  }
}

export function dispatcher(ctx: HandlerContext): Dispatch {
  const order = new DeviceOrder();
  return async (topic, payload) => {
    const parsed = parseDeviceTopic(topic);
    const handler = parsed && HANDLERS[parsed.kind];
    if (!parsed || !handler) return;
    const handle = () => handleOne(ctx, parsed, handler, topic, payload);
    if (CHUNK_REQUESTS.has(parsed.kind)) return handle();
    const queued = order.run(parsed.deviceId, handle);
    if (queued === false) ctx.log.debug({ device: parsed.deviceId, topic: parsed.kind }, 'device message dropped: too many of its messages waiting');
    else await queued;
  };
}

/** Never rejects: a handler's error is logged with its code. */
async function handleOne(ctx: HandlerContext, parsed: { deviceId: string; kind: DeviceTopic }, handler: TopicHandler, topic: string, payload: Uint8Array): Promise<void> {
  try {
    // Retained messages from devices that were removed, or from strangers on an open external broker.
    // Answered from the credential cache without a round through the event loop when it can.
    if (!(ctx.devices.knownNow(parsed.deviceId) ?? (await ctx.devices.exists(parsed.deviceId)))) {
      ctx.log.debug({ topic }, 'message from an unknown device ignored');
      return;
    }
    // Per-device message rates (docs/security.md); chunk requests pace themselves (window).
    if (!CHUNK_REQUESTS.has(parsed.kind) && !ctx.rates.allowMessage(parsed.deviceId, parsed.kind)) return;
    await handler(ctx, parsed.deviceId, payload);
  } catch (err) {
    // Bad input from one device never stops the server: log its precise reason and go on.
    const code = err instanceof WfError ? err.code : 'INTERNAL';
    const level = code === 'INTERNAL' ? 'error' : 'warn';
    ctx.log[level]({ device: parsed.deviceId, topic: parsed.kind, code, err: (err as Error).message }, 'device message rejected');
  }
}
