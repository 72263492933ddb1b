// The link to an external broker over MQTT (mqtt.js): subscribes to each device topic kind across
// the fleet, renews the subscriptions after a reconnect, and dispatches to the handlers.
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import type { HandlerContext } from '../handlers/context.js';
import { dispatcher, SERVER_SUBSCRIPTIONS } from './dispatch.js';
import type { Link } from './index.js';

export interface MqttLinkOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** For mqtts://: the CA that signs the broker's certificate, and an optional client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  log: Logger;
}

/** The external link also hands out its client, for the broker's control topics (broker/dynsec.ts). */
export type MqttLink = Link & { client: mqtt.MqttClient };

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
  const publish: HandlerContext['publish'] = (topic, payload, p) => {
    client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.length), { qos: p.qos, retain: p.retain ?? false }, (err) => {
      if (err) ctx.log.warn({ topic, err: err.message }, 'mqtt link: publish failed');
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
  await client.subscribeAsync(SERVER_SUBSCRIPTIONS, { qos: 1 });
  // After a reconnect with a clean session the subscriptions are gone: renew them.
  client.on('connect', (ack) => {
    if (!ack.sessionPresent) void client.subscribeAsync(SERVER_SUBSCRIPTIONS, { qos: 1 }).catch(() => {});
  });

  return { publish, client, close: () => client.endAsync(false) };
}
