// Modules: every published version with its size, digests and capabilities, and what changed in
// capabilities since the version before (a new capability is what the rollout gate asks about).
import { api } from '../api.js';
import { bytes, dateTime, short } from '../format.js';
import { useLoad } from '../load.js';
import type { ModuleCatalogView } from '../types.js';
import { Empty, Failure, Loading, Page } from '../ui.js';

export function Modules() {
  const cat = useLoad(() => api.get<ModuleCatalogView>('/v1/console/modules'), '');
  const c = cat.data;
  return (
    <Page title="Modules">
      {cat.error ? <Failure error={cat.error} retry={cat.reload} /> : null}
      {!c ? (
        cat.error ? null : <Loading what="modules" />
      ) : c.modules.length === 0 ? (
        <Empty>
          No module published yet. Publish one with <code>wasmfleet module publish FILE --name NAME --version VERSION</code>.
        </Empty>
      ) : (
        c.modules.map((m) => (
          <section key={m.name} aria-labelledby={`m-${m.name}`}>
            <h2 id={`m-${m.name}`}>{m.name}</h2>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Size</th>
                    <th scope="col">Image SHA-256</th>
                    <th scope="col">Manifest</th>
                    <th scope="col">Capabilities</th>
                    <th scope="col">Since previous</th>
                    <th scope="col">Published</th>
                  </tr>
                </thead>
                <tbody>
                  {m.versions.map((v) => (
                    <tr key={v.version}>
                      <th scope="row">{v.version}</th>
                      <td class="num">{bytes(v.size)}</td>
                      <td>
                        <code title={v.sha256}>{short(v.sha256)}</code>
                      </td>
                      <td>
                        <code title={v.manifestDigest}>{short(v.manifestDigest)}</code>
                      </td>
                      <td>{v.capabilities.join(', ') || 'none'}</td>
                      <td>
                        {v.previous === null ? (
                          'first version'
                        ) : v.added.length + v.removed.length === 0 ? (
                          `same as ${v.previous}`
                        ) : (
                          <span class="diff">
                            {v.added.map((c) => (
                              <ins key={c}>+{c}</ins>
                            ))}
                            {v.removed.map((c) => (
                              <del key={c}>−{c}</del>
                            ))}{' '}
                            <span class="muted">vs {v.previous}</span>
                          </span>
                        )}
                      </td>
                      <td>{dateTime(v.createdAt * 1000)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        ))
      )}
    </Page>
  );
}
