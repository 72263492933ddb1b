// MQTT topic names (protocol.md §5). One place builds and parses them for every side.
import { PATTERNS } from './fields.js';

export const TOPIC_ROOT = 'wf/v1/dev';

export const DEVICE_TOPICS = ['hello', 'online', 'directive', 'chunk/get', 'chunk', 'report', 'telemetry'] as const;
export type DeviceTopic = (typeof DEVICE_TOPICS)[number];

/** What a device may publish to and subscribe to, within its own subtree. */
export const DEVICE_PUBLISHES: readonly DeviceTopic[] = ['hello', 'online', 'chunk/get', 'report', 'telemetry'];
export const DEVICE_SUBSCRIBES: readonly DeviceTopic[] = ['directive', 'chunk'];

/** Fleet-wide, server → devices, retained: the freshness message (protocol.md §3.6). Devices only read it. */
export const FRESHNESS_TOPIC = 'wf/v1/fleet/freshness';

export function deviceTopic(deviceId: string, kind: DeviceTopic): string {
  return `${TOPIC_ROOT}/${deviceId}/${kind}`;
}

/** Wildcard subscription the server uses for one kind, across all devices. */
export function fleetTopic(kind: DeviceTopic): string {
  return `${TOPIC_ROOT}/+/${kind}`;
}

export interface ParsedTopic {
  deviceId: string;
  kind: DeviceTopic;
}

/** Parse `wf/v1/dev/{id}/{kind}`; null for anything else. */
export function parseDeviceTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(TOPIC_ROOT + '/')) return null;
  const rest = topic.slice(TOPIC_ROOT.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const deviceId = rest.slice(0, slash);
  const kind = rest.slice(slash + 1) as DeviceTopic;
  if (!PATTERNS.deviceId.test(deviceId) || !DEVICE_TOPICS.includes(kind)) return null;
  return { deviceId, kind };
}
