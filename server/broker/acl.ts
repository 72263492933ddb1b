// Who may touch which topic (protocol.md §5). Pure functions, so the rules are tested on their own
// and shared by the embedded broker hooks, the mosquitto ACL file we generate and the dynsec roles.
import { DEVICE_PUBLISHES, DEVICE_SUBSCRIBES, FRESHNESS_TOPIC, IMAGE_ROOT, parseDeviceTopic, parseImageTopic } from '../../protocol/topics.js';

/** The server's own MQTT user on the embedded broker. */
export const SERVER_USER = 'wasmfleet-server';

export function devicePublishAllowed(deviceId: string, topic: string): boolean {
  const t = parseDeviceTopic(topic);
  return t !== null && t.deviceId === deviceId && DEVICE_PUBLISHES.includes(t.kind);
}

export function deviceSubscribeAllowed(deviceId: string, filter: string): boolean {
  // No wildcards: a device subscribes to exact topics of its own subtree, to the fleet's freshness,
  // and to exact image topics (chunk fan-out, protocol.md §5.2: read only, it must name the digest).
  if (filter === FRESHNESS_TOPIC) return true;
  if (parseImageTopic(filter)) return true;
  const t = parseDeviceTopic(filter);
  return t !== null && t.deviceId === deviceId && DEVICE_SUBSCRIBES.includes(t.kind);
}

/**
 * The image topics' filter in the mosquitto ACL file and the dynsec device role. mosquitto cannot
 * demand an exact topic here: it grants a device `wf/v1/img/+/+` too (docs/security.md).
 */
export const IMAGE_TOPIC_PATTERN = `${IMAGE_ROOT}/+/+`;

/** mosquitto ACL lines enforcing the same rules for an external broker (%u is the username). */
export function mosquittoAcl(serverUser: string): string {
  const lines = [`user ${serverUser}`, 'topic readwrite wf/v1/dev/#', `topic readwrite ${FRESHNESS_TOPIC}`, `topic write ${IMAGE_ROOT}/#`, ''];
  lines.push(`pattern read ${FRESHNESS_TOPIC}`);
  lines.push(`pattern read ${IMAGE_TOPIC_PATTERN}`);
  for (const kind of DEVICE_PUBLISHES) lines.push(`pattern write wf/v1/dev/%u/${kind}`);
  for (const kind of DEVICE_SUBSCRIBES) lines.push(`pattern read wf/v1/dev/%u/${kind}`);
  return lines.join('\n') + '\n';
}
