// wasmfleet rollout pause|resume|approve|abort|rollback <id>: one operator action, recorded in
// the audit log by the server; refused with ROLLOUT_STATE when it does not apply.
import type { ApiClient } from '../client.js';
import type { RolloutView } from './rollout-show.js';

export const ROLLOUT_ACTIONS = {
  pause: 'stop starting devices (devices in flight finish)',
  resume: 'continue a paused rollout',
  approve: 'let a rollout waiting for approval start its next wave',
  abort: 'end the rollout; devices keep what they run',
  rollback: 'end the rollout and send every device it updated back to its previous release',
} as const;
export type RolloutAction = keyof typeof ROLLOUT_ACTIONS;

export async function rolloutAction(api: ApiClient, action: RolloutAction, id: string): Promise<RolloutView> {
  return api.post<RolloutView>(`/v1/rollouts/${encodeURIComponent(id)}/${action}`, {});
}
