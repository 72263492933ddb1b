// Device update states (docs/protocol.md §4). Reason codes are the error codes of errors.ts.
export const DEVICE_STATES = [
  'idle',
  'assigned',
  'downloading',
  'verifying',
  'installing',
  'probation',
  'committed',
  'failed',
  'rolled_back',
  // Not an update step: a device in a final state that has seen no valid freshness statement
  // within its window reports `stale` (reason FRESHNESS_*) and keeps running what it runs.
  'stale',
] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** States after which a device does nothing more for its current directive. */
export const FINAL_STATES: readonly DeviceState[] = ['idle', 'committed', 'failed', 'rolled_back'];

/** Reported instead of a final state, never a state of the update table (protocol.md §3.6). */
export const REPORT_ONLY_STATES: readonly DeviceState[] = ['stale'];

/** The update steps between a directive and its outcome: the rollout engine acts on none of them. */
export const IN_FLIGHT_STATES: readonly DeviceState[] = ['assigned', 'downloading', 'verifying', 'installing', 'probation'];

export function isDeviceState(value: unknown): value is DeviceState {
  return typeof value === 'string' && (DEVICE_STATES as readonly string[]).includes(value);
}
