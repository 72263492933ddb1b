// wasmfleet rollout authorize <id> <name>@<version>: sign, with the release key, a rollback
// authorization for a release that late joiners run, expiring with the rollout, and add it:
// the devices waiting on it (pending, ROLLBACK_NOT_COVERED) can then take their wave.
import { fromHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { readKeyPair } from '../../protocol/keyfiles.js';
import { signRollback } from '../../protocol/payloads/rollback.js';
import type { ModuleView } from '../../protocol/views.js';
import type { ApiClient } from '../client.js';
import type { RolloutView } from './rollout-show.js';

export async function authorizeRollback(api: ApiClient, id: string, release: { name: string; version: string }, keysDir: string): Promise<RolloutView> {
  const rollout = await api.get<RolloutView>(`/v1/rollouts/${encodeURIComponent(id)}`);
  const { modules } = await api.get<{ modules: ModuleView[] }>('/v1/modules');
  const m = modules.find((x) => x.name === release.name && x.version === release.version);
  if (!m) throw new WfError('MODULE_NOT_FOUND', `${release.name}@${release.version}`);
  const now = Math.floor(Date.now() / 1000);
  const bytes = signRollback({ component: m.name, target: fromHex(m.manifestDigest), issuedAt: now, expires: rollout.expires }, readKeyPair(keysDir, 'release'));
  return api.post<RolloutView>(`/v1/rollouts/${encodeURIComponent(id)}/authorizations`, { authorization: Buffer.from(bytes).toString('base64') });
}
