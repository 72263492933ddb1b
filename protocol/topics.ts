// MQTT topic names (protocol.md §5). One place builds and parses them for every side.
import { PATTERNS } from './fields.js';
import { CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, MESSAGE_LIMITS } from './messages.js';

export const TOPIC_ROOT = 'wf/v1/dev';

export const DEVICE_TOPICS = ['hello', 'online', 'directive', 'chunk/get', 'chunk/stream', 'chunk', 'report', 'telemetry'] as const;
export type DeviceTopic = (typeof DEVICE_TOPICS)[number];

/** What a device may publish to and subscribe to, within its own subtree. */
export const DEVICE_PUBLISHES: readonly DeviceTopic[] = ['hello', 'online', 'chunk/get', 'chunk/stream', 'report', 'telemetry'];
export const DEVICE_SUBSCRIBES: readonly DeviceTopic[] = ['directive', 'chunk'];

/**
 * Per topic: the largest payload the protocol allows (its message bound, docs/protocol.md §5) and
 * whether it is retained. Brokers refuse bigger payloads and retained publishes elsewhere.
 */
export const TOPIC_RULES: Readonly<Record<DeviceTopic, { maxPayload: number; retained: boolean }>> = {
  hello: { maxPayload: MESSAGE_LIMITS.hello, retained: true },
  online: { maxPayload: MESSAGE_LIMITS.online, retained: true },
  directive: { maxPayload: MESSAGE_LIMITS.bundle, retained: true },
  'chunk/get': { maxPayload: MESSAGE_LIMITS.chunkRequest, retained: false },
  // A stream request is a chunk request, unchanged (same message, same bound).
  'chunk/stream': { maxPayload: MESSAGE_LIMITS.chunkRequest, retained: false },
  chunk: { maxPayload: CHUNK_SIZE_MAX + MESSAGE_LIMITS.chunkOverhead, retained: false },
  report: { maxPayload: MESSAGE_LIMITS.report, retained: true },
  telemetry: { maxPayload: MESSAGE_LIMITS.telemetry, retained: false },
};

/**
 * Per-release chunk fan-out (protocol.md §5.2): server → devices, QoS 0, not retained, chunk
 * responses of one image at one chunk size: `wf/v1/img/{sha256 lowercase hex}/{chunk_size}`.
 */
export const IMAGE_ROOT = 'wf/v1/img';

/** Longest topic name: root, a 64-character device id, the longest kind (image topics are shorter). */
export const TOPIC_MAX_LENGTH = Math.max(TOPIC_ROOT.length + 1 + 64 + 1 + Math.max(...DEVICE_TOPICS.map((k) => k.length)), IMAGE_ROOT.length + 1 + 64 + 1 + 5);

/** Fleet-wide, server → devices, retained: the freshness message (protocol.md §3.6). Devices only read it. */
export const FRESHNESS_TOPIC = 'wf/v1/fleet/freshness';

export function deviceTopic(deviceId: string, kind: DeviceTopic): string {
  return `${TOPIC_ROOT}/${deviceId}/${kind}`;
}

/** Wildcard subscription the server uses for one kind, across all devices. */
export function fleetTopic(kind: DeviceTopic): string {
  return `${TOPIC_ROOT}/+/${kind}`;
}

/** The image topic of `sha256` (32 bytes, or its lowercase hex) at `chunkSize`. */
export function imageTopic(sha256Hex: string, chunkSize: number): string {
  return `${IMAGE_ROOT}/${sha256Hex}/${chunkSize}`;
}

/** Parse an exact image topic (no wildcards, lowercase hex, chunk size 256..65536 in decimal); null for anything else. */
export function parseImageTopic(topic: string): { sha256Hex: string; chunkSize: number } | null {
  const m = /^wf\/v1\/img\/([0-9a-f]{64})\/([1-9][0-9]{2,4})$/.exec(topic);
  if (!m) return null;
  const chunkSize = Number(m[2]);
  return chunkSize >= CHUNK_SIZE_MIN && chunkSize <= CHUNK_SIZE_MAX ? { sha256Hex: m[1], chunkSize } : null;
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
