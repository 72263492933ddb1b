// The server's link to the broker: one interface, two implementations.
//   in-process (link/inprocess.ts): the embedded aedes, through its own subscribe/publish API;
//     no TCP connection, no keepalive, no MQTT encode/decode of the server's own traffic.
//   mqtt.js (link/mqtt.ts): an external broker (mosquitto, EMQX...), reconnecting on its own.
// Both subscribe to each device topic kind across the fleet and hand messages to dispatch.ts.
import type { HandlerContext } from '../handlers/context.js';

export interface Link {
  /** Publish to the broker as the server; never throws (a broker fault is logged, not raised). */
  publish: HandlerContext['publish'];
  close(): Promise<void>;
}

export { connectMqttLink, DEFAULT_SHARE_GROUP, type MqttLink, type MqttLinkOptions } from './mqtt.js';
export { connectInProcessLink } from './inprocess.js';
