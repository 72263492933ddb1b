// One device: what it said in its hello, what it runs, its history with reasons, its telemetry.
import { api, enc } from '../api.js';
import { Sparkline } from '../charts.js';
import { ago, bytes, dateTime, short } from '../format.js';
import { useLoad } from '../load.js';
import type { DeviceHistoryView, DeviceView, TelemetryView } from '../types.js';
import { Empty, Failure, Loading, Page, StateBadge } from '../ui.js';

function Facts(props: { d: DeviceView }) {
  const d = props.d;
  const h = d.hello;
  const rows: Array<[string, string]> = [
    ['State', `${d.state}${d.reason ? ` (${d.reason})` : ''}`],
    ['Connection', `${d.online ? 'online' : 'offline'}, last seen ${ago(d.lastSeen === null ? null : d.lastSeen * 1000)}`],
    ['Sequence', `${d.sequence}${d.targetSequence !== null && d.targetSequence !== d.sequence ? ` (working on ${d.targetSequence})` : ''}`],
    ['Host', h ? `${h.host}, ABI ${h.abi}, agent ${h.agent}` : 'no hello yet'],
    ['Capabilities', h ? h.capabilities.join(', ') || 'none' : '—'],
    ['Memory', h ? bytes(h.memory) : '—'],
    ['Max chunk', h ? bytes(h.maxChunk) : '—'],
    ['Tags', Object.entries(d.tags).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'],
    ['Credential', d.revokedAt ? `revoked ${ago(d.revokedAt * 1000)}` : d.credential],
  ];
  if (d.lastError) rows.push(['Last error', d.lastError]);
  return (
    <dl class="facts">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function History(props: { id: string }) {
  const h = useLoad(() => api.get<DeviceHistoryView>(`/v1/devices/${enc(props.id)}/history`), props.id);
  if (h.error) return <Failure error={h.error} retry={h.reload} />;
  if (!h.data) return <Loading what="history" />;
  if (h.data.events.length === 0) return <Empty>No directive or report yet.</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            <th scope="col">Sequence</th>
            <th scope="col">State / reason</th>
            <th scope="col">Releases</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {h.data.events.map((e, i) => (
            <tr key={i}>
              <td>{dateTime(e.at)}</td>
              <td>{e.kind}</td>
              <td>{e.sequence ?? e.targetSequence ?? '—'}</td>
              <td>
                {e.state ? <StateBadge state={e.state} /> : null} {e.reason ? <code class="code">{e.reason}</code> : null} {e.detail}
              </td>
              <td>{e.releases.join(', ') || '—'}</td>
              <td>{e.rollout ? <a href={`/rollouts/${enc(e.rollout)}`}>{e.rollout}</a> : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Telemetry(props: { id: string }) {
  const t = useLoad(() => api.get<TelemetryView>(`/v1/devices/${enc(props.id)}/telemetry`), props.id);
  if (t.error) return <Failure error={t.error} retry={t.reload} />;
  if (!t.data) return <Loading what="telemetry" />;
  if (t.data.latest.length === 0) return <Empty>This device has sent no telemetry.</Empty>;
  const series = new Map(t.data.series.map((s) => [s.name, s.points.map((p) => p.value)]));
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Latest</th>
            <th scope="col">When</th>
            <th scope="col">Recent</th>
          </tr>
        </thead>
        <tbody>
          {t.data.latest.map((x) => (
            <tr key={x.name}>
              <th scope="row">{x.name}</th>
              <td class="num">{Number.isInteger(x.value) ? x.value : x.value.toFixed(3)}</td>
              <td>{ago(x.at * 1000)}</td>
              <td>
                <Sparkline label={x.name} values={series.get(x.name) ?? []} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Device(props: { id: string }) {
  const id = props.id;
  const dev = useLoad(() => api.get<DeviceView>(`/v1/devices/${enc(id)}`), id);
  const d = dev.data;
  return (
    <Page title={`Device ${id}`} actions={<a href="/devices">All devices</a>}>
      {dev.error ? <Failure error={dev.error} retry={dev.reload} notFound="No such device" /> : null}
      {!d ? (
        dev.error ? null : <Loading what="the device" />
      ) : (
        <>
          <Facts d={d} />
          <section aria-labelledby="slots">
            <h2 id="slots">Running</h2>
            {d.running.length === 0 ? (
              <Empty>No module committed yet.</Empty>
            ) : (
              <ul class="plain">
                {d.running.map((r) => (
                  <li key={r.component}>
                    <strong>
                      {r.component}@{r.version}
                    </strong>{' '}
                    <code title={r.manifestDigest}>{short(r.manifestDigest)}</code>
                  </li>
                ))}
              </ul>
            )}
            {d.progress ? (
              <p>
                Downloading: <progress max={d.progress.total} value={d.progress.bytes} /> {bytes(d.progress.bytes)} of {bytes(d.progress.total)}
              </p>
            ) : null}
          </section>
          <section aria-labelledby="telemetry">
            <h2 id="telemetry">Telemetry</h2>
            <Telemetry id={id} />
          </section>
          <section aria-labelledby="history">
            <h2 id="history">History</h2>
            <History id={id} />
          </section>
        </>
      )}
    </Page>
  );
}
