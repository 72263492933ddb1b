// The simulated twin of a rollout's targets: the real targets grouped by what decides how an
// update goes on them (host kind, granted capabilities, memory, max chunk, the release they run),
// each group scaled down in proportion, at least one twin per group, at most `max` twins in all.
import type { DeviceView } from '../../server/store/devices.js';

export interface TwinProfile {
  host: 'v8' | 'wasm3' | 'wamr';
  capabilities: string[];
  memory: number;
  maxChunk: number;
  /** "component@version" the real devices run now, or null (nothing committed yet). */
  running: { component: string; version: string } | null;
  /** Real targets with this profile. */
  real: number;
  /** Simulated twins of them. */
  twins: number;
}

export interface TwinPlan {
  profiles: TwinProfile[];
  realTotal: number;
  twinTotal: number;
  /** Real targets whose profile got no twin (more profiles than `max`: the rarest are left out). */
  unrehearsed: number;
}

// Simulated devices speak chunks up to this size; a twin of a device that asks for more asks for this.
const SIM_MAX_CHUNK = 16384;

function profileOf(d: DeviceView): Omit<TwinProfile, 'real' | 'twins'> {
  const h = d.hello;
  const running = d.running[0] ?? h?.running?.[0];
  return {
    host: h?.host ?? 'v8',
    capabilities: [...(h?.capabilities ?? [])].sort(),
    memory: h?.memory ?? 1 << 20,
    maxChunk: Math.min(h?.maxChunk ?? 4096, SIM_MAX_CHUNK),
    running: running ? { component: running.component, version: running.version } : null,
  };
}

export function planTwin(targets: DeviceView[], max = 50): TwinPlan {
  const groups = new Map<string, TwinProfile>();
  for (const d of targets) {
    const p = profileOf(d);
    const key = JSON.stringify(p);
    const g = groups.get(key);
    if (g) g.real++;
    else groups.set(key, { ...p, real: 1, twins: 0 });
  }
  // Largest groups first; beyond `max` groups the rarest ones are not rehearsed.
  const ordered = [...groups.values()].sort((a, b) => b.real - a.real);
  const kept = ordered.slice(0, max);
  const realKept = kept.reduce((n, p) => n + p.real, 0);
  const budget = Math.min(max, realKept);
  // One twin per kept profile, the rest of the budget by largest remainder.
  for (const p of kept) p.twins = 1;
  let left = budget - kept.length;
  if (left > 0) {
    const share = kept.map((p) => ({ p, exact: (p.real / realKept) * budget - 1 }));
    for (const s of share) {
      const whole = Math.max(0, Math.min(Math.floor(s.exact), roomOf(s.p), left));
      s.p.twins += whole;
      left -= whole;
      s.exact -= whole;
    }
    for (const s of share.sort((a, b) => b.exact - a.exact)) {
      if (left <= 0) break;
      if (roomOf(s.p) > 0) {
        s.p.twins++;
        left--;
      }
    }
  }
  return {
    profiles: kept,
    realTotal: targets.length,
    twinTotal: kept.reduce((n, p) => n + p.twins, 0),
    unrehearsed: ordered.slice(max).reduce((n, p) => n + p.real, 0),
  };
}

/** A profile never gets more twins than it has real devices. */
function roomOf(p: TwinProfile): number {
  return p.real - p.twins;
}
