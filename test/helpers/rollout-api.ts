// Rollouts through the real API, as the CLI does them: plan, sign the rollback authorizations for
// the releases the targets run (operator side, release key), create; then wait on the rollout view.
import { fromHex } from '../../protocol/crypto.js';
import { readKeyPair } from '../../protocol/keyfiles.js';
import { signRollback } from '../../protocol/payloads/rollback.js';
import type { ApiClient } from '../../cli/client.js';
import type { MemberBody, RolloutBody } from '../../cli/commands/rollout-view.js';
import { waitFor } from './server.js';

export interface RolloutRequest {
  module: string;
  version: string;
  selector: Record<string, unknown>;
  policy: Record<string, unknown> & { waves: Array<{ percent: number } | { count: number }> };
}

export async function createRollout(api: ApiClient, keysDir: string, req: RolloutRequest, ttlSeconds = 3600): Promise<RolloutBody> {
  const plan = await api.post<{ releases: Array<{ manifestDigest: string; component: string }> }>('/v1/rollouts/plan', {
    module: req.module,
    version: req.version,
    selector: req.selector,
  });
  const now = Math.floor(Date.now() / 1000);
  const expires = now + ttlSeconds;
  const key = readKeyPair(keysDir, 'release');
  const authorizations = plan.releases.map((r) =>
    Buffer.from(signRollback({ component: r.component, target: fromHex(r.manifestDigest), issuedAt: now, expires }, key)).toString('base64'),
  );
  return api.post<RolloutBody>('/v1/rollouts', { ...req, authorizations, expires });
}

export function waitRolloutState(api: ApiClient, id: string, states: string[], timeoutMs = 60_000): Promise<RolloutBody> {
  return waitFor(`rollout ${id} to be ${states.join(' or ')}`, async () => {
    const r = await api.get<RolloutBody>(`/v1/rollouts/${id}`);
    return states.includes(r.state) ? r : undefined;
  }, timeoutMs);
}

export async function members(api: ApiClient, id: string): Promise<MemberBody[]> {
  return (await api.get<{ devices: MemberBody[] }>(`/v1/rollouts/${id}/devices`)).devices;
}
