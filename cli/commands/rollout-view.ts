// GET /v1/rollouts/:id → what the watch shows. The one place that knows the API's field names,
// so the views (watch, rehearsal) follow the server's rollout model without depending on its layout.
import { WfError } from '../../protocol/errors.js';
import type { WatchSnapshot } from './rollout-watch.js';

/** The rollout as the server shows it (server/rollouts/engine.ts view()). */
export interface RolloutBody {
  id: string;
  module: string;
  version: string;
  state: string;
  reason: string | null;
  /** Current wave, 0-based. */
  wave: number;
  awaitingApproval: boolean;
  devices: number;
  /** Members by state; reasons keyed "state:REASON". */
  states: Record<string, number>;
  reasons: Record<string, number>;
  /** Per wave: `cap` is how many devices waves 1..k may have started in all. */
  waves: Array<{ wave: number; cap: number; states: Record<string, number> }>;
}

/** One device's membership (GET /v1/rollouts/:id/devices). */
export interface MemberBody {
  deviceId: string;
  state: string;
  reason: string | null;
  wave: number | null;
}

// Member states that are an outcome for the device (pending/assigned/reverting are still moving).
const DECIDED = ['committed', 'failed', 'timed_out', 'rolled_back'];
const FAILED = ['failed', 'timed_out'];
const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((n, k) => n + (c[k] ?? 0), 0);

function waveState(r: RolloutBody, k: number): string {
  if (r.state === 'completed' || k < r.wave) return 'done';
  if (k > r.wave) return r.state === 'running' || r.state === 'paused' ? 'pending' : 'not reached';
  if (r.state === 'running') return r.awaitingApproval ? 'awaiting approval' : 'running';
  return r.state;
}

export function snapshotOf(body: unknown): WatchSnapshot {
  const r = body as RolloutBody;
  if (typeof r?.id !== 'string' || !Array.isArray(r.waves)) throw new WfError('INTERNAL', 'server answered GET /v1/rollouts/:id without id or waves');
  const final = ['completed', 'aborted', 'rolled_back'].includes(r.state);
  return {
    id: r.id,
    release: `${r.module}@${r.version}`,
    state: r.state,
    reason: r.reason ?? null,
    wave: final ? null : r.wave,
    awaitingApproval: r.awaitingApproval === true,
    waves: r.waves.map((w, k) => ({
      index: k,
      planned: w.cap - (k > 0 ? r.waves[k - 1].cap : 0),
      done: sum(w.states, DECIDED),
      failed: sum(w.states, FAILED),
      state: waveState(r, k),
    })),
    states: r.states ?? {},
    reasons: r.reasons ?? {},
  };
}
