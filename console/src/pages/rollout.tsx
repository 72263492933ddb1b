// One rollout, live: the page draws the server's snapshots, which come over one server-sent-events
// stream (GET /v1/rollouts/:id/events) as devices report; it never polls per device. The
// operator's actions are buttons; abort and roll back ask first.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api.js';
import { Confirm } from '../confirm.js';
import { counts, dateTime, duration } from '../format.js';
import { useEventStream } from '../sse.js';
import type { RolloutLiveView, RolloutStreamEnd } from '../types.js';
import { CountList, Empty, Failure, Loading, Page, StateBadge } from '../ui.js';

const DECIDED = ['committed', 'failed', 'timed_out', 'rolled_back'];
const FAILED = ['failed', 'timed_out', 'rolled_back'];
const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((n, k) => n + (c[k] ?? 0), 0);

type Action = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback';
const LABEL: Record<Action, string> = { pause: 'Pause', resume: 'Resume', approve: 'Approve next wave', abort: 'Abort', rollback: 'Roll back' };
const DESTRUCTIVE: Partial<Record<Action, string>> = {
  abort: 'Abort stops the rollout for good: no device is assigned from now on. Devices keep what they run.',
  rollback: 'Roll back sends every device this rollout updated back to the release it ran before, with the rollback authorizations signed at creation.',
};

/** Which buttons make sense now (the server still has the last word and says why it refuses). */
function actionsFor(r: RolloutLiveView): Action[] {
  if (r.kind !== 'rollout') return [];
  if (r.state === 'running') return [...(r.awaitingApproval ? (['approve'] as const) : []), 'pause', 'abort', 'rollback'];
  if (r.state === 'paused') return ['resume', 'abort', 'rollback'];
  return []; // completed, aborted, rolled_back: final, nothing left to do
}

function waveState(r: RolloutLiveView, k: number): string {
  const current = r.wave - 1;
  if (r.state === 'completed' || k < current) return 'done';
  if (k > current) return r.final ? 'not reached' : 'waiting';
  if (r.state === 'running') return r.awaitingApproval ? 'awaiting approval' : r.soakEndsMs ? 'soaking' : 'running';
  return r.state;
}

function Soak(props: { until: number; at: number }) {
  // The server's clock, advanced by ours: a countdown without asking the server every second.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const skew = props.at - Date.now();
  const left = (props.until - (now + skew)) / 1000;
  return <p class="soak">{left > 0 ? `Soaking: next wave in ${duration(left)}` : 'Soak over: the next wave starts on the next tick.'}</p>;
}

function Waves(props: { r: RolloutLiveView }) {
  const r = props.r;
  return (
    <ol class="waves">
      {r.waves.map((w, k) => {
        const planned = w.cap - (k > 0 ? r.waves[k - 1].cap : 0);
        const done = sum(w.states, DECIDED);
        const failed = sum(w.states, FAILED);
        const state = waveState(r, k);
        return (
          <li key={w.wave} class={`wave wave-${state.replace(/ /g, '-')}`} data-testid={`wave-${w.wave}`}>
            <span class="wave-name">
              Wave {w.wave} <span class="muted">({'percent' in w.spec && w.spec.percent !== undefined ? `${w.spec.percent}%` : `${w.spec.count} devices`})</span>
            </span>
            <progress max={Math.max(planned, 1)} value={done} aria-label={`Wave ${w.wave}: ${done} of ${planned} done`} />
            <span class="wave-count">
              {done}/{planned} done{failed ? `, ${failed} failed` : ''}
            </span>
            <span class="wave-state">{state}</span>
          </li>
        );
      })}
    </ol>
  );
}

function Failures(props: { r: RolloutLiveView }) {
  const r = props.r;
  if (r.failuresTotal === 0) return <Empty>No device has failed.</Empty>;
  return (
    <>
      {r.failuresTotal > r.failures.length ? (
        <p class="muted">
          The {r.failures.length} most recent of {r.failuresTotal}.
        </p>
      ) : null}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
              <th scope="col">Wave</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {r.failures.map((f) => (
              <tr key={f.device}>
                <th scope="row">
                  <a href={`/devices/${enc(f.device)}`}>{f.device}</a>
                </th>
                <td>
                  <StateBadge state={f.state} />
                </td>
                <td>
                  {f.reason ? <code class="code">{f.reason}</code> : null} {f.detail}
                </td>
                <td>{f.wave ?? '—'}</td>
                <td>{dateTime(f.updatedMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function Rollout(props: { id: string }) {
  const id = props.id;
  const [view, setView] = useState<RolloutLiveView | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [gone, setGone] = useState(false);
  const [ended, setEnded] = useState(false);
  const [asking, setAsking] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<Error | null>(null);

  /** Newer snapshots only: the stream and an action's answer can cross. */
  const show = (v: RolloutLiveView) => setView((old) => (old && old.at > v.at ? old : v));
  const fetchLive = async () => {
    try {
      show(await api.get<RolloutLiveView>(`/v1/rollouts/${enc(id)}/live`));
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setGone(true);
      else setError(err as Error);
    }
  };
  useEffect(() => {
    setView(null);
    setGone(false);
    setEnded(false);
    void fetchLive();
  }, [id]);

  const stream = useEventStream<RolloutLiveView | RolloutStreamEnd>(
    gone || ended ? null : `/v1/rollouts/${enc(id)}/events`,
    ['snapshot', 'end'],
    (name, data) => {
      if (name === 'snapshot') show(data as RolloutLiveView);
      else if ((data as RolloutStreamEnd).reason === 'ROLLOUT_NOT_FOUND') setGone(true);
      else setEnded(true);
    },
    // The server refused or dropped the stream for good: ask why (404 gone, 401 signed out).
    () => void fetchLive(),
  );

  const act = async (a: Action) => {
    setAsking(null);
    setBusy(true);
    setActionError(null);
    try {
      await api.post(`/v1/rollouts/${enc(id)}/${a}`);
      setEnded(false);
      await fetchLive();
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const r = view;
  const title = r ? `Rollout ${id}: ${r.module}@${r.version}` : `Rollout ${id}`;
  if (gone)
    return (
      <Page title={`Rollout ${id}`}>
        <div class="failure" role="alert">
          <strong>This rollout no longer exists</strong>
          <p>
            There is no rollout {id} on this server. See the <a href="/rollouts">list of rollouts</a>.
          </p>
        </div>
      </Page>
    );
  return (
    <Page title={title} actions={<a href="/rollouts">All rollouts</a>}>
      {error ? <Failure error={error} retry={() => void fetchLive()} /> : null}
      {!r ? (
        error ? null : <Loading what="the rollout" />
      ) : (
        <>
          <div class="status-line">
            <StateBadge state={r.state} />
            <span data-testid="rollout-state">
              {r.state}
              {r.awaitingApproval ? ', awaiting approval' : ''}
              {r.reason ? ` (${r.reason})` : ''}
            </span>
            <span>
              wave {Math.min(r.wave, r.waveCount)}/{r.waveCount}
            </span>
            <span>{r.devices} devices</span>
            <span class={`stream stream-${ended || r.final ? 'ended' : stream}`} role="status">
              {ended || r.final ? 'finished' : stream === 'live' ? 'live' : stream === 'closed' ? 'not live' : `${stream}…`}
            </span>
          </div>
          {r.soakEndsMs && r.state === 'running' ? <Soak until={r.soakEndsMs} at={r.at} /> : null}
          {actionsFor(r).length ? (
            <div class="actions" role="group" aria-label="Rollout actions">
              {actionsFor(r).map((a) => (
                <button type="button" key={a} disabled={busy} class={DESTRUCTIVE[a] ? 'danger' : ''} onClick={() => (DESTRUCTIVE[a] ? setAsking(a) : void act(a))}>
                  {LABEL[a]}
                </button>
              ))}
            </div>
          ) : null}
          {actionError ? <Failure error={actionError} /> : null}
          {asking ? (
            <Confirm title={`${LABEL[asking]} rollout ${id}?`} confirm={`Yes, ${LABEL[asking].toLowerCase()}`} onConfirm={() => void act(asking)} onCancel={() => setAsking(null)}>
              <p>{DESTRUCTIVE[asking]}</p>
            </Confirm>
          ) : null}
          <section aria-labelledby="waves">
            <h2 id="waves">Waves</h2>
            <Waves r={r} />
          </section>
          <div class="grid">
            <section aria-labelledby="states">
              <h2 id="states">Devices by state</h2>
              <CountList label="Devices by state" counts={counts(r.states)} />
            </section>
            <section aria-labelledby="reasons">
              <h2 id="reasons">By reason</h2>
              <CountList label="Devices by reason" counts={r.reasons.map((x) => [`${x.state}: ${x.reason}`, x.devices])} empty="No reasons reported." />
            </section>
          </div>
          <section aria-labelledby="failures">
            <h2 id="failures">Failures</h2>
            <Failures r={r} />
          </section>
          <p class="muted">
            Audit trail: <a href={`/audit?rollout=${enc(id)}`}>entries for this rollout</a>. Created {dateTime(r.createdMs)}.
          </p>
        </>
      )}
    </Page>
  );
}
