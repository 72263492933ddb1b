// Devices: filters in the URL (a filtered view can be bookmarked and shared), one server page at
// a time (the server pages by cursor, so 100,000 devices cost one page).
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso/router';
import { api, query } from '../api.js';
import { ago } from '../format.js';
import { useLoad } from '../load.js';
import type { DevicePageView } from '../types.js';
import { Empty, Failure, Loading, Page, StateBadge } from '../ui.js';

const PAGE = 25;
// Cursor paging goes forward; the way back is remembered here (a reloaded page 3 goes back to page 1).
const previousCursor = new Map<string, string>();
const STATES = ['idle', 'assigned', 'downloading', 'verifying', 'installing', 'probation', 'committed', 'failed', 'rolled_back'];
const HOSTS = ['v8', 'wasm3', 'wamr'];
const FILTERS = ['q', 'tag', 'state', 'release', 'host', 'online'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function FilterForm(props: { value: Filters; onApply(f: Filters): void }) {
  const [f, setF] = useState<Filters>(props.value);
  const field = (name: keyof Filters) => ({
    id: `f-${name}`,
    name,
    value: f[name] ?? '',
    onInput: (e: Event) => setF({ ...f, [name]: (e.target as HTMLInputElement).value }),
  });
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        props.onApply(f);
      }}
    >
      <div>
        <label for="f-q">Device id</label>
        <input type="search" placeholder="contains…" {...field('q')} />
      </div>
      <div>
        <label for="f-tag">Tag</label>
        <input type="text" placeholder="key=value, key=value" {...field('tag')} />
      </div>
      <div>
        <label for="f-state">State</label>
        <select {...field('state')}>
          <option value="">any</option>
          {STATES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </div>
      <div>
        <label for="f-release">Release</label>
        <input type="text" placeholder="module@version" {...field('release')} />
      </div>
      <div>
        <label for="f-host">Host kind</label>
        <select {...field('host')}>
          <option value="">any</option>
          {HOSTS.map((h) => (
            <option key={h}>{h}</option>
          ))}
        </select>
      </div>
      <div>
        <label for="f-online">Connection</label>
        <select {...field('online')}>
          <option value="">any</option>
          <option value="true">online</option>
          <option value="false">offline</option>
        </select>
      </div>
      <div class="filter-actions">
        <button type="submit">Apply filters</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            setF({});
            props.onApply({});
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

export function Devices() {
  const loc = useLocation();
  const filters: Filters = Object.fromEntries(FILTERS.filter((k) => loc.query[k]).map((k) => [k, loc.query[k]]));
  const cursor = loc.query.cursor ?? '';
  const page = Number(loc.query.page ?? '1') || 1;
  const key = query({ ...filters, cursor });
  // "site=a, hw=rev3": every tag must match (the API takes tag once per pair).
  const tags = (filters.tag ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  const list = useLoad(() => api.get<DevicePageView>(`/v1/devices${query({ ...filters, tag: tags, cursor, limit: PAGE })}`), key);
  const go = (more: Record<string, string | undefined>) => loc.route(`/devices${query({ ...filters, ...more })}`);
  const d = list.data;
  return (
    <Page title="Devices">
      <FilterForm value={filters} onApply={(f) => loc.route(`/devices${query(f)}`)} key={JSON.stringify(filters)} />
      {list.error ? <Failure error={list.error} retry={list.reload} /> : null}
      {!d ? (
        list.error ? null : <Loading what="devices" />
      ) : d.devices.length === 0 ? (
        <Empty>{Object.keys(filters).length ? 'No device matches these filters.' : 'No devices yet.'}</Empty>
      ) : (
        <>
          <p class="muted" role="status" data-testid="devices-count">
            {(page - 1) * PAGE + 1}–{(page - 1) * PAGE + d.devices.length} of {d.total} devices
          </p>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">State</th>
                  <th scope="col">Running</th>
                  <th scope="col">Host</th>
                  <th scope="col">Tags</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                {d.devices.map((x) => (
                  <tr key={x.id}>
                    <th scope="row">
                      <a href={`/devices/${encodeURIComponent(x.id)}`}>{x.id}</a>
                    </th>
                    <td>
                      <StateBadge state={x.state} /> <span class={x.online ? 'online' : 'offline'}>{x.online ? 'online' : 'offline'}</span>
                    </td>
                    <td>{x.running.map((r) => `${r.component}@${r.version}`).join(', ') || '—'}</td>
                    <td>{x.host ?? '—'}</td>
                    <td class="tags">
                      {Object.entries(x.tags).map(([k, v]) => (
                        <span class="tag" key={k}>
                          {k}={v}
                        </span>
                      ))}
                    </td>
                    <td>{ago(x.lastSeen === null ? null : x.lastSeen * 1000)}</td>
                    <td>
                      {x.lastError ? (
                        <>
                          <code class="code">{x.lastError.code}</code> {x.lastError.detail}
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={page <= 1} onClick={() => go({ cursor: previousCursor.get(cursor) || undefined, page: page > 2 && previousCursor.has(cursor) ? String(page - 1) : undefined })}>
              Previous page
            </button>
            <span>Page {page}</span>
            <button type="button" class="secondary" disabled={!d.nextCursor} onClick={() => {
                previousCursor.set(d.nextCursor ?? '', cursor);
                go({ cursor: d.nextCursor ?? undefined, page: String(page + 1) });
              }}
            >
              Next page
            </button>
          </nav>
        </>
      )}
    </Page>
  );
}
