// What the fleet looks like right now: counts by state, by running release and by reason, and a
// live view of it (cli-progress bars on a terminal, nothing otherwise) plus a final table.
import cliProgress from 'cli-progress';
import { FINAL_STATES, REPORT_ONLY_STATES, type DeviceState } from '../protocol/states.js';
import type { AgentStatus } from './agent.js';

export interface FleetSummary {
  devices: number;
  online: number;
  states: Partial<Record<DeviceState, number>>;
  /** "component@version" (or "(none)") → devices running it. */
  running: Record<string, number>;
  reasons: Record<string, number>;
  /** Devices in a state that is not final (assigned … probation). */
  inProgress: number;
}

export const releaseOf = (s: AgentStatus): string => s.running.map((c) => `${c.component}@${c.version}`).join(',') || '(none)';

export function summarize(statuses: AgentStatus[]): FleetSummary {
  const s: FleetSummary = { devices: statuses.length, online: 0, states: {}, running: {}, reasons: {}, inProgress: 0 };
  for (const d of statuses) {
    if (d.connected) s.online++;
    s.states[d.state] = (s.states[d.state] ?? 0) + 1;
    const rel = releaseOf(d);
    s.running[rel] = (s.running[rel] ?? 0) + 1;
    if (d.reason) s.reasons[d.reason] = (s.reasons[d.reason] ?? 0) + 1;
    if (!FINAL_STATES.includes(d.state) && !REPORT_ONLY_STATES.includes(d.state)) s.inProgress++;
  }
  return s;
}

const BARS = ['online', 'updating', 'committed', 'rolled back', 'failed'] as const;

/** Live bars on a TTY; a no-op elsewhere (the final table and --json still print). */
export class LiveSummary {
  private readonly multibar: cliProgress.MultiBar | null;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor(total: number, enabled: boolean) {
    this.multibar = enabled
      ? new cliProgress.MultiBar(
          { format: ' {label} |{bar}| {value}/{total} {info}', hideCursor: true, clearOnComplete: false, autopadding: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    if (this.multibar) for (const label of BARS) this.bars.set(label, this.multibar.create(total, 0, { label: label.padEnd(11), info: '' }));
  }

  update(s: FleetSummary): void {
    if (!this.multibar) return;
    const top = (o: Record<string, number>) =>
      Object.entries(o)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
    this.bars.get('online')!.update(s.online, { info: '' });
    this.bars.get('updating')!.update(s.inProgress, { info: '' });
    this.bars.get('committed')!.update(s.states.committed ?? 0, { info: top(s.running) });
    this.bars.get('rolled back')!.update(s.states.rolled_back ?? 0, { info: '' });
    this.bars.get('failed')!.update(s.states.failed ?? 0, { info: top(s.reasons) });
  }

  stop(): void {
    this.multibar?.stop();
  }
}
