// Fleet: devices by state, release, connection and host kind, and version adoption over time.
import { useEffect, useState } from 'preact/hooks';
import { api, query } from '../api.js';
import { LineChart } from '../charts.js';
import { counts } from '../format.js';
import { useLoad } from '../load.js';
import type { AdoptionView, FleetSummaryView } from '../types.js';
import { CountList, Empty, Failure, Loading, Page } from '../ui.js';

const REFRESH_MS = 10_000;

function Adoption(props: { modules: string[] }) {
  const [module, setModule] = useState(props.modules[0] ?? '');
  const adoption = useLoad(() => api.get<AdoptionView>(`/v1/console/adoption${query({ module })}`), module);
  if (!module) return <Empty>No module has been committed on a device yet: adoption shows once a device runs one.</Empty>;
  const a = adoption.data;
  return (
    <div>
      <label class="inline">
        Module{' '}
        <select value={module} onChange={(e) => setModule((e.target as HTMLSelectElement).value)}>
          {props.modules.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
      </label>
      {adoption.error ? <Failure error={adoption.error} retry={adoption.reload} /> : null}
      {a && a.points.length > 0 ? (
        <LineChart
          label={`Devices per version of ${a.module} over time`}
          series={a.versions.map((v) => ({ name: `${a.module}@${v}`, points: a.points.map((p) => ({ t: p.at * 1000, v: p.counts[v] ?? 0 })) }))}
        />
      ) : a ? (
        <Empty>No commits of {module} yet.</Empty>
      ) : (
        <Loading what="adoption" />
      )}
    </div>
  );
}

export function Fleet() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  const fleet = useLoad(() => api.get<FleetSummaryView>('/v1/console/fleet'), String(tick));
  const f = fleet.data;
  return (
    <Page title="Fleet">
      {fleet.error ? <Failure error={fleet.error} retry={fleet.reload} /> : null}
      {!f ? (
        fleet.error ? null : <Loading what="the fleet" />
      ) : f.devices === 0 ? (
        <Empty>
          No devices yet. Add one with <code>wasmfleet devices add ID</code>, or start simulated ones with <code>wasmfleet sim</code>.
        </Empty>
      ) : (
        <>
          <div class="cards">
            <a class="card" href="/devices">
              <span class="big" data-testid="fleet-devices">{f.devices}</span> devices
            </a>
            <a class="card" href="/devices?online=true">
              <span class="big" data-testid="fleet-online">{f.online}</span> online
            </a>
            <a class="card" href="/devices?online=false">
              <span class="big" data-testid="fleet-offline">{f.offline}</span> offline
            </a>
          </div>
          <div class="grid">
            <section aria-labelledby="by-state">
              <h2 id="by-state">By state</h2>
              <CountList label="Devices by state" counts={counts(f.byState)} />
            </section>
            <section aria-labelledby="by-release">
              <h2 id="by-release">By release</h2>
              <CountList label="Devices by release" counts={f.byRelease.map((r) => [r.release, r.devices])} empty="No device runs a module yet." />
            </section>
            <section aria-labelledby="by-host">
              <h2 id="by-host">By host kind</h2>
              <CountList label="Devices by host kind" counts={counts(f.byHost)} />
            </section>
          </div>
          <section aria-labelledby="adoption">
            <h2 id="adoption">Version adoption</h2>
            <Adoption modules={f.adoptionModules} key={f.adoptionModules.join(',')} />
          </section>
        </>
      )}
    </Page>
  );
}
