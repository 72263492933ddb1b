// wasmfleet rollout watch <id>: follow one rollout until it ends. One GET /v1/rollouts/:id per
// interval (never per device); a change in the rollout's state, its waves or its counts prints:
// progress bars per wave on a terminal, one text block per change elsewhere, one JSON line per
// change with --json. Exit 0 when the rollout completes, 1 when it ends paused, aborted or
// rolled back (the caller's script should not carry on as if it had shipped).
import cliProgress from 'cli-progress';
import type { ApiClient } from '../client.js';
import { EXIT } from '../errors.js';
import { escapeForTerminal } from '../escape.js';

/** The part of GET /v1/rollouts/:id the watch shows. */
export interface WatchSnapshot {
  id: string;
  release: string;
  state: string;
  reason: string | null;
  /** Index of the current wave (0-based), null before the first or after the last. */
  wave: number | null;
  /** The current wave is done and waits for "rollout approve". */
  awaitingApproval: boolean;
  waves: Array<{ index: number; planned: number; done: number; failed: number; state: string }>;
  /** Rollout devices by state (assigned, downloading, committed, failed, rolled_back, …). */
  states: Record<string, number>;
  /** Failure reasons reported by devices or decided by the engine (DEVICE_TIMEOUT), with counts. */
  reasons: Record<string, number>;
}

/** Rollout states after which nothing changes without an operator. */
export const WATCH_END: Record<string, number> = {
  completed: EXIT.ok,
  paused: EXIT.refused,
  aborted: EXIT.refused,
  rolled_back: EXIT.refused,
};

export type RolloutFetcher = (id: string) => Promise<WatchSnapshot>;

export interface WatchOptions {
  intervalMs: number;
  json: boolean;
  /** Live bars (stdout is a terminal and no --json). */
  live: boolean;
  write?: (s: string) => void;
  signal?: AbortSignal;
}

const sortedCounts = (o: Record<string, number>) =>
  Object.entries(o)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

/** "committed 12  downloading 3": keys escaped (a device chooses its reason strings). */
export function countsLine(o: Record<string, number>): string {
  return sortedCounts(o)
    .map(([k, n]) => `${escapeForTerminal(k)} ${n}`)
    .join('  ');
}

function textBar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** The text a non-terminal watch prints for one snapshot (also the model of the live view). */
export function renderSnapshot(s: WatchSnapshot): string {
  const lines = [`rollout ${escapeForTerminal(s.id)} ${escapeForTerminal(s.release)}: ${s.state}${s.wave !== null ? ` (wave ${s.wave + 1}/${s.waves.length}${s.awaitingApproval ? ', awaiting approval' : ''})` : ''}${s.reason ? ` — ${escapeForTerminal(s.reason)}` : ''}`];
  for (const w of s.waves) {
    lines.push(`  wave ${w.index + 1} ${textBar(w.done, w.planned)} ${w.done}/${w.planned} ${w.state}${w.failed ? `, ${w.failed} failed` : ''}`);
  }
  const states = countsLine(s.states);
  if (states) lines.push(`  devices: ${states}`);
  const reasons = countsLine(s.reasons);
  if (reasons) lines.push(`  reasons: ${reasons}`);
  return lines.join('\n') + '\n';
}

/** JSON lines carry the same strings, escaped by JSON itself (control characters become \uXXXX). */
export function jsonLine(s: WatchSnapshot): string {
  return JSON.stringify({ at: new Date().toISOString(), ...s }) + '\n';
}

class LiveView {
  private readonly multibar: cliProgress.MultiBar;
  private readonly bars: cliProgress.SingleBar[] = [];
  private readonly header: cliProgress.SingleBar;

  constructor() {
    this.multibar = new cliProgress.MultiBar(
      { format: ' {label} |{bar}| {value}/{total} {info}', hideCursor: true, clearOnComplete: false, autopadding: true, forceRedraw: true },
      cliProgress.Presets.shades_classic,
    );
    this.header = this.multibar.create(0, 0, { label: 'rollout', info: '' }, { format: ' {info}' });
  }

  update(s: WatchSnapshot): void {
    this.header.update(0, {
      info: `${escapeForTerminal(s.id)} ${escapeForTerminal(s.release)} ${s.state}${s.reason ? ` — ${escapeForTerminal(s.reason)}` : ''} | ${countsLine(s.states)}${Object.keys(s.reasons).length ? ` | reasons: ${countsLine(s.reasons)}` : ''}`,
    });
    s.waves.forEach((w, i) => {
      const info = `${w.state}${w.failed ? `, ${w.failed} failed` : ''}`;
      if (!this.bars[i]) this.bars[i] = this.multibar.create(w.planned, w.done, { label: `wave ${w.index + 1}`, info });
      this.bars[i].setTotal(w.planned);
      this.bars[i].update(w.done, { info });
    });
  }

  stop(): void {
    this.multibar.stop();
  }
}

/** Poll until the rollout reaches an end state; returns the exit code. */
export async function watchRollout(id: string, fetchSnapshot: RolloutFetcher, o: WatchOptions): Promise<number> {
  const write = o.write ?? ((s: string) => process.stdout.write(s));
  const live = o.live && !o.json ? new LiveView() : null;
  let last = '';
  try {
    for (;;) {
      const s = await fetchSnapshot(id);
      const key = JSON.stringify(s);
      if (key !== last) {
        last = key;
        if (o.json) write(jsonLine(s));
        else if (live) live.update(s);
        else write(renderSnapshot(s));
      }
      const end = WATCH_END[s.state];
      if (end !== undefined) return end;
      if (o.signal?.aborted) return EXIT.ok;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, o.intervalMs);
        o.signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  } finally {
    live?.stop();
  }
}

export function apiFetcher(client: ApiClient, toSnapshot: (body: unknown) => WatchSnapshot): RolloutFetcher {
  return async (id) => toSnapshot(await client.get<unknown>(`/v1/rollouts/${encodeURIComponent(id)}`));
}
