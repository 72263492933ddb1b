// Rollout helpers for tests: create through the CLI's own function (plan, sign authorizations,
// create), and poll the API until a rollout reaches a condition.
import { createRollout, type RolloutCreated } from '../../cli/commands/rollout-create.js';
import type { RolloutView } from '../../cli/commands/rollout-show.js';
import type { ApiClient } from '../../cli/client.js';
import type { Policy, Selector } from '../../server/rollouts/model.js';
import type { MemberRow } from '../../server/store/rollouts.js';
import type { AuditEntry } from '../../server/store/db.js';
import { waitFor } from './server.js';

export async function startRollout(
  api: ApiClient,
  keysDir: string,
  release: string,
  selector: Selector,
  policy: Partial<Policy> & Pick<Policy, 'waves'>,
): Promise<NonNullable<RolloutCreated['rollout']>> {
  const [module, version] = release.split('@');
  const r = await createRollout(api, { module, version, selector, policy, validSeconds: 7 * 86400, keysDir });
  return r.rollout!;
}

export const rolloutView = (api: ApiClient, id: string) => api.get<RolloutView>(`/v1/rollouts/${id}`);
export const members = async (api: ApiClient, id: string) => (await api.get<{ devices: MemberRow[] }>(`/v1/rollouts/${id}/devices`)).devices;
export const auditOf = async (api: ApiClient, id: string) => (await api.get<{ entries: AuditEntry[] }>(`/v1/audit?rollout=${id}`)).entries;

export async function waitRollout(api: ApiClient, id: string, what: string, done: (r: RolloutView) => boolean, timeoutMs = 120_000): Promise<RolloutView> {
  let last: RolloutView | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        last = await rolloutView(api, id);
        return done(last) ? last : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; rollout: ${JSON.stringify({ state: last?.state, reason: last?.reason, wave: last?.wave, states: last?.states, reasons: last?.reasons })}`);
  }
}
