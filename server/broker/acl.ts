// Who may touch which topic (protocol.md §5). Pure functions, so the rules are tested on their own
// and shared by the embedded broker hooks and the mosquitto ACL file we generate.
import { DEVICE_PUBLISHES, DEVICE_SUBSCRIBES, FRESHNESS_TOPIC, parseDeviceTopic } from '../../protocol/topics.js';

/** The server's own MQTT user on the embedded broker. */
export const SERVER_USER = 'wasmfleet-server';

export function devicePublishAllowed(deviceId: string, topic: string): boolean {
  const t = parseDeviceTopic(topic);
  return t !== null && t.deviceId === deviceId && DEVICE_PUBLISHES.includes(t.kind);
}

export function deviceSubscribeAllowed(deviceId: string, filter: string): boolean {
  // No wildcards: a device subscribes to exact topics of its own subtree, and to the fleet's freshness.
  if (filter === FRESHNESS_TOPIC) return true;
  const t = parseDeviceTopic(filter);
  return t !== null && t.deviceId === deviceId && DEVICE_SUBSCRIBES.includes(t.kind);
}

/** mosquitto ACL lines enforcing the same rules for an external broker (%u is the username). */
export function mosquittoAcl(serverUser: string): string {
  const lines = [`user ${serverUser}`, 'topic readwrite wf/v1/dev/#', `topic readwrite ${FRESHNESS_TOPIC}`, ''];
  lines.push(`pattern read ${FRESHNESS_TOPIC}`);
  for (const kind of DEVICE_PUBLISHES) lines.push(`pattern write wf/v1/dev/%u/${kind}`);
  for (const kind of DEVICE_SUBSCRIBES) lines.push(`pattern read wf/v1/dev/%u/${kind}`);
  return lines.join('\n') + '\n';
}
