// wasmfleet rollback: ask the server for the plan (which release each device goes back to), sign
// a rollback authorization per release with the operator's release key, and send them.
import { fromHex } from '../../protocol/crypto.js';
import { readKeyPair } from '../../protocol/keyfiles.js';
import { signRollback } from '../../protocol/payloads/rollback.js';
import type { RollbackPlan, RollbackSkip } from '../../protocol/views.js';
import type { ApiClient } from '../client.js';


export interface RollbackOptions {
  devices?: string[];
  tags?: Record<string, string>;
  to?: string;
  keysDir: string;
  /** How long the authorization stays valid for devices that are offline now. */
  validSeconds?: number;
}

export async function rollback(api: ApiClient, o: RollbackOptions) {
  const selector = { devices: o.devices, tags: o.tags, to: o.to };
  const { targets } = await api.post<RollbackPlan>('/v1/rollbacks/plan', selector);
  const release = readKeyPair(o.keysDir, 'release');
  const now = Math.floor(Date.now() / 1000);
  // One authorization per target release, downgrade or not: the server's view of what a device
  // runs can lag its last report, and a device ignores an authorization it does not need.
  const unique = new Map(targets.map((t) => [t.manifestDigest, t]));
  const authorizations = [...unique.values()].map((t) =>
    Buffer.from(
      signRollback({ component: t.component, target: fromHex(t.manifestDigest), issuedAt: now, expires: now + (o.validSeconds ?? 30 * 86400) }, release),
    ).toString('base64'),
  );
  const result = await api.post<{ deployments: Array<{ deployment: string; devices: Array<{ id: string; sequence: number }> }>; skipped: RollbackSkip[] }>(
    '/v1/rollbacks',
    { ...selector, authorizations },
  );
  // The executed rollback is the truth: a device can change its report between plan and execute.
  const sent = new Set(result.deployments.flatMap((d) => d.devices.map((x) => x.id)));
  return { targets: targets.filter((t) => sent.has(t.device)), skipped: result.skipped, deployments: result.deployments };
}
