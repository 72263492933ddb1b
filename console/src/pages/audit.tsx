// The audit log: who did what and why, the server's own decisions included; filters in the URL.
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso/router';
import { api, enc, query } from '../api.js';
import { dateTime } from '../format.js';
import { useLoad } from '../load.js';
import type { AuditEntryView } from '../types.js';
import { Empty, Failure, Loading, Page } from '../ui.js';

const FILTERS = ['rollout', 'action', 'actor'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function detailText(d: Record<string, unknown>): string {
  const s = JSON.stringify(d);
  return s === '{}' ? '' : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export function Audit() {
  const loc = useLocation();
  const filters: Filters = Object.fromEntries(FILTERS.filter((k) => loc.query[k]).map((k) => [k, loc.query[k]]));
  const [form, setForm] = useState<Filters>(filters);
  const log = useLoad(() => api.get<{ entries: AuditEntryView[] }>(`/v1/audit${query({ ...filters, order: 'desc', limit: 200 })}`), query(filters));
  const entries = log.data?.entries;
  const field = (name: keyof Filters) => ({
    id: `a-${name}`,
    name,
    value: form[name] ?? '',
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  });
  return (
    <Page title="Audit log">
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          loc.route(`/audit${query(form)}`);
        }}
      >
        <div>
          <label for="a-rollout">Rollout</label>
          <input type="text" {...field('rollout')} />
        </div>
        <div>
          <label for="a-action">Action</label>
          <input type="text" placeholder="e.g. rollout.paused" {...field('action')} />
        </div>
        <div>
          <label for="a-actor">Operator</label>
          <input type="text" placeholder="token id" {...field('actor')} />
        </div>
        <div class="filter-actions">
          <button type="submit">Apply filters</button>
        </div>
      </form>
      <p class="muted">Newest first, the latest 200 that match.</p>
      {log.error ? <Failure error={log.error} retry={log.reload} /> : null}
      {!entries ? (
        log.error ? null : <Loading what="the audit log" />
      ) : entries.length === 0 ? (
        <Empty>No audit entry matches.</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">By</th>
                <th scope="col">Rollout</th>
                <th scope="col">Reason</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{dateTime(e.at * 1000)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.actor ?? (e.kind === 'operator' ? 'operator' : 'server')}</td>
                  <td>{e.rollout ? <a href={`/rollouts/${enc(e.rollout)}`}>{e.rollout}</a> : '—'}</td>
                  <td>{e.reason ? <code class="code">{e.reason}</code> : '—'}</td>
                  <td class="detail">{detailText(e.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
