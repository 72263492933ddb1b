// wasmfleet rollout create: ask the server for the plan (targets, exclusions with reasons, the
// releases the targets run now), sign on the operator's side one rollback authorization per such
// release, expiring with the rollout, and create the rollout with them. The release key never
// leaves this machine; the server can later roll devices back only to these releases.
import { fromHex } from '../../protocol/crypto.js';
import { readKeyPair } from '../../protocol/keyfiles.js';
import { signRollback } from '../../protocol/payloads/rollback.js';
import type { Policy, Selector } from '../../server/rollouts/model.js';
import type { RolloutPlan } from '../../server/rollouts/plan.js';
import type { ApiClient } from '../client.js';

export interface RolloutCreateOptions {
  module: string;
  version: string;
  selector: Selector;
  policy: Partial<Policy> & Pick<Policy, 'waves'>;
  /** Seconds the rollout (and its rollback authorizations) stay valid. */
  validSeconds: number;
  keysDir: string;
  /** Called with the plan before anything is created; return false to stop. */
  confirm?: (plan: RolloutPlan) => Promise<boolean>;
}

export interface RolloutCreated {
  plan: RolloutPlan;
  rollout: { id: string; state: string; devices: number; states: Record<string, number> } | null;
}

export async function createRollout(api: ApiClient, o: RolloutCreateOptions): Promise<RolloutCreated> {
  const release = { module: o.module, version: o.version, selector: o.selector };
  const plan = await api.post<RolloutPlan>('/v1/rollouts/plan', release);
  if (o.confirm && !(await o.confirm(plan))) return { plan, rollout: null };
  const key = readKeyPair(o.keysDir, 'release');
  const now = Math.floor(Date.now() / 1000);
  const expires = now + o.validSeconds;
  const authorizations = plan.releases.map((r) =>
    Buffer.from(signRollback({ component: r.component, target: fromHex(r.manifestDigest), issuedAt: now, expires }, key)).toString('base64'),
  );
  const rollout = await api.post<RolloutCreated['rollout'] & object>('/v1/rollouts', { ...release, policy: o.policy, authorizations, expires });
  return { plan, rollout };
}
