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
] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** States after which a device does nothing more for its current directive. */
export const FINAL_STATES: readonly DeviceState[] = ['idle', 'committed', 'failed', 'rolled_back'];

export function isDeviceState(value: unknown): value is DeviceState {
  return typeof value === 'string' && (DEVICE_STATES as readonly string[]).includes(value);
}
