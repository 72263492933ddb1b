// The server's MQTT connection, the same code for the embedded aedes and an external broker:
// subscribe to each device topic kind across the fleet and dispatch to its handler.
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { WfError } from '../protocol/errors.js';
import { fleetTopic, parseDeviceTopic, type DeviceTopic } from '../protocol/topics.js';
import { onChunkGet } from './handlers/chunk-get.js';
import type { HandlerContext, TopicHandler } from './handlers/context.js';
import { onHello } from './handlers/hello.js';
import { onOnline } from './handlers/online.js';
import { onReport } from './handlers/report.js';
import { onTelemetry } from './handlers/telemetry.js';

const HANDLERS: Partial<Record<DeviceTopic, TopicHandler>> = {
  hello: onHello,
  online: onOnline,
  report: onReport,
  telemetry: onTelemetry,
  'chunk/get': onChunkGet,
};

export interface LinkOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** For mqtts://: the CA that signs the broker's certificate, and an optional client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  log: Logger;
}

export interface Link {
  client: MqttClient;
  publish: HandlerContext['publish'];
  close(): Promise<void>;
}

export async function connectLink(opts: LinkOptions, ctx: Omit<HandlerContext, 'publish'>): Promise<Link> {
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
    client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.length), { qos: p.qos, retain: p.retain ?? false });
  };
  const full: HandlerContext = { ...ctx, publish };

  client.on('message', (topic, payload) => {
    const parsed = parseDeviceTopic(topic);
    const handler = parsed && HANDLERS[parsed.kind];
    if (!parsed || !handler) return;
    // Retained messages from devices that were removed, or from strangers on an open external broker.
    if (!ctx.devices.exists(parsed.deviceId)) {
      ctx.log.debug({ topic }, 'message from an unknown device ignored');
      return;
    }
    if (parsed.kind !== 'chunk/get' && !ctx.rates.allowMessage(parsed.deviceId, parsed.kind)) return;
    try {
      handler(full, parsed.deviceId, new Uint8Array(payload.buffer, payload.byteOffset, payload.length));
    } catch (err) {
      // Bad input from one device never stops the server: log its precise reason and go on.
      const code = err instanceof WfError ? err.code : 'INTERNAL';
      ctx.log.warn({ device: parsed.deviceId, topic: parsed.kind, code, err: (err as Error).message }, 'device message rejected');
    }
  });
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
  await client.subscribeAsync(Object.keys(HANDLERS).map((kind) => fleetTopic(kind as DeviceTopic)), { qos: 1 });
  // After a reconnect with a clean session the subscriptions are gone: renew them.
  client.on('connect', (ack) => {
    if (!ack.sessionPresent) void client.subscribeAsync(Object.keys(HANDLERS).map((k) => fleetTopic(k as DeviceTopic)), { qos: 1 }).catch(() => {});
  });

  return {
    client,
    publish,
    close: () => client.endAsync(false),
  };
}
