// Rollouts: the list, newest first, and how to start one (from the CLI, where the release key is).
import { api, enc } from '../api.js';
import { dateTime } from '../format.js';
import { useLoad } from '../load.js';
import type { RolloutListItem } from '../types.js';
import { Empty, Failure, Loading, Page, StateBadge } from '../ui.js';

export const CREATE_COMMAND = "wasmfleet rollout create counter@1.2.0 --target 'site=plant-a' --waves 10%,50%,100% --soak 10m --max-failures 5%";

export function CreateHint() {
  return (
    <details class="hint">
      <summary>Start a rollout</summary>
      <p>
        Rollouts are created with the CLI, which signs the rollback authorizations with your release key (the server never holds it):
      </p>
      <pre>
        <code>{CREATE_COMMAND}</code>
      </pre>
      <p class="muted">
        See <code>wasmfleet rollout create --help</code> and docs/rollouts.md for targets, waves and thresholds.
      </p>
    </details>
  );
}

export function Rollouts() {
  const list = useLoad(() => api.get<{ rollouts: RolloutListItem[] }>('/v1/rollouts?limit=200'), '');
  const rs = list.data?.rollouts;
  return (
    <Page title="Rollouts">
      <CreateHint />
      {list.error ? <Failure error={list.error} retry={list.reload} /> : null}
      {!rs ? (
        list.error ? null : <Loading what="rollouts" />
      ) : rs.length === 0 ? (
        <Empty>No rollouts yet.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Rollout</th>
                <th scope="col">Release</th>
                <th scope="col">Kind</th>
                <th scope="col">State</th>
                <th scope="col">Wave</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {rs.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <a href={`/rollouts/${enc(r.id)}`}>{r.id}</a>
                  </th>
                  <td>
                    {r.module}@{r.version}
                  </td>
                  <td>{r.kind}</td>
                  <td>
                    <StateBadge state={r.state} /> {r.awaitingApproval ? 'awaiting approval' : null} {r.reason ? <code class="code">{r.reason}</code> : null}
                  </td>
                  <td>
                    {Math.min(r.wave + 1, r.policy.waves.length)}/{r.policy.waves.length}
                  </td>
                  <td>{dateTime(r.createdMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
