// wasmfleet rollout list: the newest rollouts with state, wave and reason.
import type { RolloutRow } from '../../server/store/rollouts.js';
import type { ApiClient } from '../client.js';
import type { Row } from '../output.js';

export async function listRollouts(api: ApiClient): Promise<RolloutRow[]> {
  return (await api.get<{ rollouts: RolloutRow[] }>('/v1/rollouts')).rollouts;
}

export function rolloutRow(r: RolloutRow): Row {
  return {
    id: r.id,
    release: `${r.module}@${r.version}`,
    state: r.state,
    wave: `${r.wave + 1}/${r.policy.waves.length}`,
    reason: r.reason,
    created: new Date(r.createdMs).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}
