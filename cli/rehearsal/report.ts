// What a rehearsal predicts, per wave: how many twins committed, how many reverted or failed
// (with the devices' reasons), how many timed out, and how the rollout ended.
import { escapeForTerminal } from '../escape.js';
import { countsLine } from '../commands/rollout-watch.js';
import type { TwinPlan } from './twin.js';

/** One twin's membership in the twin rollout (from the twin server's rollout view). */
export interface TwinMember {
  device: string;
  wave: number | null;
  state: string;
  reason: string | null;
}

export interface WavePrediction {
  wave: number;
  devices: number;
  committed: number;
  /** Reverted by the device (rolled back on its own) or refused: reason → count. */
  reverted: Record<string, number>;
  timeouts: number;
  /** Sent back to the previous release by the rollout's own rollback (after the failure threshold). */
  rolledBack: number;
  /** Still pending or assigned when the rehearsal ended. */
  unfinished: number;
}

export interface Prediction {
  release: string;
  twins: number;
  targets: number;
  unrehearsed: number;
  profiles: number;
  failRate: number;
  /** Compressed time: soak and deadline as the twin ran them, in seconds. */
  time: { soakSeconds: number; twinSoakSeconds: number; deadlineSeconds: number; twinDeadlineSeconds: number };
  outcome: { state: string; reason: string | null };
  waves: WavePrediction[];
  /** Twins pre-flight left out: reason → count. */
  excluded: Record<string, number>;
  elapsedMs: number;
}

const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);

export function predictWaves(members: TwinMember[], waveCount: number): { waves: WavePrediction[]; excluded: Record<string, number> } {
  const waves: WavePrediction[] = Array.from({ length: waveCount }, (_, wave) => ({ wave, devices: 0, committed: 0, reverted: {}, timeouts: 0, rolledBack: 0, unfinished: 0 }));
  const excluded: Record<string, number> = {};
  for (const m of members) {
    if (m.state === 'excluded') {
      bump(excluded, m.reason ?? 'EXCLUDED');
      continue;
    }
    if (m.wave === null || !waves[m.wave]) continue; // never reached a wave
    const w = waves[m.wave];
    w.devices++;
    if (m.state === 'committed') w.committed++;
    else if (m.state === 'timed_out') w.timeouts++;
    else if (m.state === 'failed') bump(w.reverted, m.reason ?? 'UNKNOWN');
    // sent back by the rollout's own rollback (its reason is the rollout's, not the device's)
    else if (m.state === 'rolled_back' || m.state === 'reverting') w.rolledBack++;
    else w.unfinished++;
  }
  return { waves, excluded };
}

const dur = (s: number) => (s >= 3600 && s % 3600 === 0 ? `${s / 3600}h` : s >= 60 && s % 60 === 0 ? `${s / 60}m` : `${s}s`);

export function renderPrediction(p: Prediction): string {
  const lines = [
    `rehearsal of ${escapeForTerminal(p.release)}: ${p.twins} simulated twin(s) of ${p.targets} target(s) in ${p.profiles} profile(s)` +
      (p.unrehearsed ? `, ${p.unrehearsed} target(s) of rarer profiles not rehearsed` : '') +
      `; faults ${Math.round(p.failRate * 100)}%; soak ${dur(p.time.soakSeconds)} → ${dur(p.time.twinSoakSeconds)}, deadline ${dur(p.time.deadlineSeconds)} → ${dur(p.time.twinDeadlineSeconds)}; ${(p.elapsedMs / 1000).toFixed(1)} s`,
  ];
  for (const w of p.waves) {
    if (w.devices === 0) {
      lines.push(`  wave ${w.wave + 1}: not reached`);
      continue;
    }
    const reverted = Object.values(w.reverted).reduce((a, b) => a + b, 0);
    lines.push(
      `  wave ${w.wave + 1}: ${w.devices} device(s): committed ${w.committed}, reverted ${reverted}${reverted ? ` (${countsLine(w.reverted)})` : ''}, timeouts ${w.timeouts}` +
        (w.rolledBack ? `, rolled back by the rollout ${w.rolledBack}` : '') +
        (w.unfinished ? `, unfinished ${w.unfinished}` : ''),
    );
  }
  if (Object.keys(p.excluded).length) lines.push(`  excluded by pre-flight: ${countsLine(p.excluded)}`);
  lines.push(`predicted outcome: ${p.outcome.state}${p.outcome.reason ? ` (${escapeForTerminal(p.outcome.reason)})` : ''}`);
  return lines.join('\n') + '\n';
}
