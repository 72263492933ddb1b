// The link to an external broker over MQTT (mqtt.js): subscribes to each device topic kind across
// the fleet, renews the subscriptions after a reconnect, and dispatches to the handlers.
// Several server instances share one broker (docs/scale-out.md):
//  - requests and telemetry (chunk/get, telemetry) through MQTT shared subscriptions,
//    `$share/<group>/<filter>`: the broker hands each message to one member of the group, so
//    each chunk request is answered once, by whichever instance got it;
//  - the device's state (hello, online, report) only while this instance leads (`setLeading`):
//    one reader keeps each device's reports in the order the broker got them (a round-robin
//    share would let two instances store them out of order), and a new leader receives the
//    retained copies when it subscribes, so nothing said during a failover is lost.
// Publishing to devices works from any instance.
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import type { HandlerContext } from '../handlers/context.js';
import { dispatcher, SHARED_SUBSCRIPTIONS, STATE_SUBSCRIPTIONS } from './dispatch.js';
import type { Link } from './index.js';

export interface MqttLinkOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** For mqtts://: the CA that signs the broker's certificate, and an optional client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  /** The shared-subscription group of the fleet's instances; null: plain subscriptions (a broker without `$share`). */
  shareGroup?: string | null;
  /** Whether this instance starts as the leader (it reads the devices' state); `setLeading` changes it. */
  leading?: boolean;
  log: Logger;
}

/** The group every wasmfleet instance of a fleet joins unless told otherwise. */
export const DEFAULT_SHARE_GROUP = 'wasmfleet';

/** The subscription for a device topic filter, shared within `group` when one is given. */
export const sharedFilter = (filter: string, group: string | null | undefined) => (group ? `$share/${group}/${filter}` : filter);

/** The external link also hands out its client, for the broker's control topics (broker/dynsec.ts). */
export type MqttLink = Link & {
  client: mqtt.MqttClient;
  /** Read the devices' state (this instance leads) or stop reading it (another one does). */
  setLeading(leading: boolean): Promise<void>;
};

export async function connectMqttLink(opts: MqttLinkOptions, ctx: Omit<HandlerContext, 'publish'>): Promise<MqttLink> {
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...(opts.tls ? { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, rejectUnauthorized: true } : {}),
  });
  const publish: HandlerContext['publish'] = (topic, payload, p, done) => {
    client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.length), { qos: p.qos, retain: p.retain ?? false }, (err) => {
      if (err) ctx.log.warn({ topic, err: err.message }, 'mqtt link: publish failed');
      done?.(err ?? undefined);
    });
  };
  const dispatch = dispatcher({ ...ctx, publish });
  client.on('message', (topic, payload) => void dispatch(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.length)));
  client.on('error', (err) => ctx.log.warn({ err: err.message }, 'mqtt link error'));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      clearTimeout(timer);
      client.end(true);
      reject(new WfError('SERVER_UNAVAILABLE', `MQTT broker ${opts.url}: ${err.message}`));
    };
    const timer = setTimeout(() => onError(new Error('no answer within 10 s')), 10_000);
    client.once('error', onError);
    client.once('connect', () => {
      clearTimeout(timer);
      client.off('error', onError);
      resolve();
    });
  });
  const shared = SHARED_SUBSCRIPTIONS.map((f) => sharedFilter(f, opts.shareGroup));
  let leading = opts.leading ?? true;
  const current = () => (leading ? [...shared, ...STATE_SUBSCRIPTIONS] : shared);
  await client.subscribeAsync(current(), { qos: 1 });
  // After a reconnect with a clean session the subscriptions are gone: renew them.
  client.on('connect', (ack) => {
    if (!ack.sessionPresent) void client.subscribeAsync(current(), { qos: 1 }).catch(() => {});
  });

  // Serialized, so a quick lose-then-win ends subscribed, whatever the broker's latency.
  let changing: Promise<void> = Promise.resolve();
  const setLeading = (next: boolean) => {
    changing = changing.then(async () => {
      if (next === leading) return;
      leading = next;
      try {
        if (next) await client.subscribeAsync(STATE_SUBSCRIPTIONS, { qos: 1 });
        else await client.unsubscribeAsync(STATE_SUBSCRIPTIONS);
      } catch (err) {
        // Disconnected: the reconnect subscribes to what `leading` says.
        ctx.log.warn({ err: (err as Error).message, leading: next }, 'mqtt link: could not change the state subscriptions');
      }
    });
    return changing;
  };

  return { publish, client, setLeading, close: () => client.endAsync(false) };
}
