// Device message → topic handler, shared by both links. Whatever a handler throws stays here:
// one device's bad input (or a server bug it triggers) is logged with its code, and the link,
// the broker and the API carry on.
import { WfError } from '../../protocol/errors.js';
import { fleetTopic, parseDeviceTopic, type DeviceTopic } from '../../protocol/topics.js';
import { onChunkGet } from '../handlers/chunk-get.js';
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
};

/** The fleet-wide subscriptions the server holds: one per device topic kind it handles. */
export const SERVER_SUBSCRIPTIONS: string[] = Object.keys(HANDLERS).map((kind) => fleetTopic(kind as DeviceTopic));

/** Handles one message; resolves when its handler has finished, and never rejects. */
export type Dispatch = (topic: string, payload: Uint8Array) => Promise<void>;

export function dispatcher(ctx: HandlerContext): Dispatch {
  return async (topic, payload) => {
    const parsed = parseDeviceTopic(topic);
    const handler = parsed && HANDLERS[parsed.kind];
    if (!parsed || !handler) return;
    try {
      // Retained messages from devices that were removed, or from strangers on an open external broker.
      if (!(await ctx.devices.exists(parsed.deviceId))) {
        ctx.log.debug({ topic }, 'message from an unknown device ignored');
        return;
      }
      // Per-device message rates (docs/security.md); chunk requests pace themselves (window).
      if (parsed.kind !== 'chunk/get' && !ctx.rates.allowMessage(parsed.deviceId, parsed.kind)) return;
      await handler(ctx, parsed.deviceId, payload);
    } catch (err) {
      // Bad input from one device never stops the server: log its precise reason and go on.
      const code = err instanceof WfError ? err.code : 'INTERNAL';
      const level = code === 'INTERNAL' ? 'error' : 'warn';
      ctx.log[level]({ device: parsed.deviceId, topic: parsed.kind, code, err: (err as Error).message }, 'device message rejected');
    }
  };
}
