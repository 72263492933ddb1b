// wasmfleet rollout show: one rollout with counts per wave, per state and per reason.
import type { RolloutRow } from '../../server/store/rollouts.js';
import type { ApiClient } from '../client.js';

export interface RolloutView extends RolloutRow {
  devices: number;
  states: Record<string, number>;
  reasons: Record<string, number>;
  waves: Array<{ wave: number; spec: { percent: number } | { count: number }; cap: number; states: Record<string, number> }>;
}

export async function showRollout(api: ApiClient, id: string): Promise<RolloutView> {
  return api.get<RolloutView>(`/v1/rollouts/${encodeURIComponent(id)}`);
}
