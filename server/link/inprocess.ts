// The link to the embedded aedes, in-process: aedes' own subscribe/publish API, no TCP connection.
// The server therefore has no keepalive to miss and no MQTT packets to encode and decode for its
// own traffic (at 10,000 devices the TCP link timed out under load). Faults stay on this side:
//  - a handler that throws is caught in dispatch; the broker's callback is always called, so the
//    broker's message bus never stalls on us;
//  - a failed publish (broker closing, bad topic) is logged, never thrown into the API;
//  - if the broker is restarted (a new aedes instance), `attach` subscribes the link to it again.
import type { Aedes, AedesPublishPacket } from 'aedes';
import type { HandlerContext } from '../handlers/context.js';
import { dispatcher, SERVER_SUBSCRIPTIONS } from './dispatch.js';
import type { Link } from './index.js';

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void;

export interface InProcessLink extends Link {
  /** Subscribe to (another) broker instance, e.g. after the embedded broker was restarted. */
  attach(broker: Aedes): Promise<void>;
}

const subscribe = (broker: Aedes, topic: string, deliver: Deliver) =>
  new Promise<void>((resolve) => broker.subscribe(topic, deliver, () => resolve()));
const unsubscribe = (broker: Aedes, topic: string, deliver: Deliver) =>
  new Promise<void>((resolve) => broker.unsubscribe(topic, deliver, () => resolve()));

export async function connectInProcessLink(broker: Aedes, ctx: Omit<HandlerContext, 'publish'>): Promise<InProcessLink> {
  let current = broker;
  const publish: HandlerContext['publish'] = (topic, payload, p, done) => {
    const packet = {
      cmd: 'publish' as const,
      topic,
      payload: Buffer.from(payload.buffer, payload.byteOffset, payload.length),
      qos: p.qos,
      retain: p.retain ?? false,
      dup: false,
    };
    try {
      current.publish(packet, (err?: Error) => {
        if (err) ctx.log.warn({ topic, err: err.message }, 'in-process link: publish failed');
        done?.(err ?? undefined);
      });
    } catch (err) {
      ctx.log.error({ topic, err: (err as Error).message }, 'in-process link: broker threw on publish');
      done?.(err as Error);
    }
  };
  const dispatch = dispatcher({ ...ctx, publish });
  const deliver: Deliver = (packet, cb) => {
    try {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      void dispatch(packet.topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.length));
    } catch (err) {
      ctx.log.error({ topic: packet.topic, err: (err as Error).message }, 'in-process link: delivery failed');
    } finally {
      cb();
    }
  };
  const attach = async (next: Aedes) => {
    current = next;
    await Promise.all(SERVER_SUBSCRIPTIONS.map((t) => subscribe(next, t, deliver)));
  };
  await attach(broker);
  return {
    publish,
    attach,
    async close() {
      if (!current.closed) await Promise.all(SERVER_SUBSCRIPTIONS.map((t) => unsubscribe(current, t, deliver)));
    },
  };
}
