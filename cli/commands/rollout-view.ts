// GET /v1/rollouts/:id → what the watch shows. The one place that knows the API's field names,
// so the views (watch, rehearsal) follow the server's rollout model without depending on its layout.
import { WfError } from '../../protocol/errors.js';
import type { WatchSnapshot } from './rollout-watch.js';

interface RolloutBody {
  id: string;
  module: string;
  version: string;
  state: string;
  reason?: string | null;
  currentWave?: number | null;
  waves: Array<{ index: number; size: number; state: string; counts?: Record<string, number> }>;
  counts?: Record<string, number>;
  reasons?: Record<string, number>;
}

const FINISHED = ['committed', 'failed', 'rolled_back', 'timed_out', 'excluded', 'reverted'];

export function snapshotOf(body: unknown): WatchSnapshot {
  const r = ((body as { rollout?: RolloutBody }).rollout ?? body) as RolloutBody;
  if (typeof r?.id !== 'string' || !Array.isArray(r.waves)) throw new WfError('INTERNAL', 'server answered GET /v1/rollouts/:id without id or waves');
  return {
    id: r.id,
    release: `${r.module}@${r.version}`,
    state: r.state,
    reason: r.reason ?? null,
    wave: r.currentWave ?? null,
    waves: r.waves.map((w) => {
      const c = w.counts ?? {};
      return {
        index: w.index,
        planned: w.size,
        done: FINISHED.reduce((n, s) => n + (c[s] ?? 0), 0),
        failed: (c.failed ?? 0) + (c.rolled_back ?? 0) + (c.timed_out ?? 0),
        state: w.state,
      };
    }),
    states: r.counts ?? {},
    reasons: r.reasons ?? {},
  };
}
