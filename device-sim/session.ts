// The device's MQTT session: connect with a last will, subscribe and announce on every
// (re)connect, reconnect forever (also after the broker refused the CONNACK: credentials may not
// be there yet, and a real device keeps trying too), publish only while connected.
import mqtt, { type MqttClient } from 'mqtt';
import { encodeOnline } from '../protocol/messages.js';
import { deviceTopic, FRESHNESS_TOPIC } from '../protocol/topics.js';

export type Outbound = 'report' | 'telemetry' | 'chunk/get' | 'hello' | 'online';

export interface SessionOptions {
  deviceId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  /** mqtts:// and wss://: the CA the broker is trusted by, and the device's client certificate and key (PEM). */
  tls?: DeviceTls;
  reconnectPeriodMs: number;
}

export interface DeviceTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** The device's MQTT identity and transport: client id = device id; a certificate replaces the password. */
export function connectionOptions(opts: SessionOptions): mqtt.IClientOptions {
  const tls = opts.tls;
  return {
    clientId: opts.deviceId,
    username: tls?.cert ? undefined : (opts.username ?? opts.deviceId),
    password: tls?.cert ? undefined : opts.password,
    ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: true } : {}),
  };
}

export interface SessionHandlers {
  /** Every (re)connect, once subscribed: announce and resume (publishAsync may reject if it drops). */
  onConnected(session: DeviceSession): Promise<void>;
  onClosed(): void;
  onDirective(payload: Uint8Array): void;
  onChunk(payload: Uint8Array): void;
  onFreshness(payload: Uint8Array): void;
}

/** mqtt.js logs through `debug`, whose calls allocate their arguments per packet even when
 *  off: a thousand devices in one process pay for that. Without DEBUG set, a no-op instead. */
const quietLog: Pick<mqtt.IClientOptions, 'log'> = process.env.DEBUG ? {} : { log: () => {} };

export class DeviceSession {
  private client: MqttClient | null = null;

  constructor(
    private readonly opts: SessionOptions,
    private readonly handlers: SessionHandlers,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  connect(): void {
    const id = this.opts.deviceId;
    const will = { topic: deviceTopic(id, 'online'), payload: Buffer.from(encodeOnline(false)), qos: 1 as const, retain: true };
    const client = mqtt.connect(this.opts.mqttUrl, {
      ...connectionOptions(this.opts),
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.opts.reconnectPeriodMs,
      // mqtt.js 5 stops for good on a refused CONNACK unless told otherwise.
      reconnectOnConnackError: true,
      resubscribe: false, // subscribed on every connect below
      queueQoSZero: false, // chunk requests sent while offline would only be stale
      will,
      ...quietLog,
    });
    this.client = client;
    client.on('connect', () => void this.onConnect(client));
    client.on('close', () => this.handlers.onClosed());
    client.on('error', () => {}); // bad credentials etc.: reconnects (reconnectOnConnackError)
    client.on('message', (topic, payload) => {
      // A view, not a copy: each packet's Buffer is its own (mqtt-packet slices a fresh socket read).
      const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
      if (topic === deviceTopic(id, 'directive')) {
        if (bytes.length > 0) this.handlers.onDirective(bytes);
      } else if (topic === deviceTopic(id, 'chunk')) {
        this.handlers.onChunk(bytes);
      } else if (topic === FRESHNESS_TOPIC) {
        if (bytes.length > 0) this.handlers.onFreshness(bytes);
      }
    });
  }

  private async onConnect(client: MqttClient): Promise<void> {
    try {
      const id = this.opts.deviceId;
      await client.subscribeAsync({
        [deviceTopic(id, 'chunk')]: { qos: 0 },
        [deviceTopic(id, 'directive')]: { qos: 1 },
        [FRESHNESS_TOPIC]: { qos: 1 },
      });
      if (client !== this.client) return;
      await this.handlers.onConnected(this);
    } catch {
      // The connection dropped while announcing; the next connect repeats all of it.
    }
  }

  /** Publish and wait for the broker (QoS 1): for the announcements on connect. */
  async publishAsync(kind: Outbound, bytes: Uint8Array, retain: boolean): Promise<void> {
    const c = this.client;
    if (!c) return;
    await c.publishAsync(deviceTopic(this.opts.deviceId, kind), Buffer.from(bytes), { qos: 1, retain });
  }

  /** Fire and forget; nothing while offline (a report is re-published on connect; the rest is moot). */
  publish(kind: Outbound, bytes: Uint8Array, qos: 0 | 1, retain = false): void {
    const c = this.client;
    if (!c || !c.connected) return;
    c.publish(deviceTopic(this.opts.deviceId, kind), Buffer.from(bytes), { qos, retain }, () => {});
  }

  /** Fault injection: drop the TCP connection as a flaky link would (the client reconnects). */
  drop(): void {
    this.client?.stream?.destroy();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(true).catch(() => {});
  }
}
