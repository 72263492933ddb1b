// Rehearsal: the rollout as asked, run first against a simulated twin of its targets
// (twin.ts, twin-fleet.ts) with injected faults and compressed time, and what happened per wave.
// Nothing is created on the real server: it is only read (plan, devices, the signed releases).
import type { Policy, Selector, WaveSpec } from '../../server/rollouts/model.js';
import { DEFAULT_POLICY, FINAL_ROLLOUT_STATES, matchesSelector } from '../../server/rollouts/model.js';
import type { DeviceView } from '../../server/store/devices.js';
import type { ApiClient } from '../client.js';
import { createRollout } from '../commands/rollout-create.js';
import type { MemberBody, RolloutBody } from '../commands/rollout-view.js';
import { predictWaves, type Prediction } from './report.js';
import { planTwin, type TwinPlan } from './twin.js';
import { startTwinWorld, TWIN_TAG } from './twin-fleet.js';

export interface RehearsalOptions {
  real: ApiClient;
  keysDir: string;
  module: string;
  version: string;
  selector: Selector;
  policy: Partial<Policy> & Pick<Policy, 'waves'>;
  /** At most this many twins (default 50). */
  maxTwins?: number;
  /** Probability of each injected fault per twin (default 0.05). */
  failRate?: number;
  seed?: string;
  /** Give up on the twin rollout after this long (default 3 min). */
  timeoutMs?: number;
  progress?: (line: string) => void;
}

/** The twin's soak: a soak of any length becomes this (or none stays none). */
const TWIN_SOAK_S = 2;
/** A simulated update takes seconds however short the real deadline: the twin's deadline never goes below this. */
const TWIN_MIN_DEADLINE_S = 20;

export interface CompressedPolicy {
  policy: Partial<Policy> & Pick<Policy, 'waves'>;
  time: Prediction['time'];
}

/**
 * The same rollout at the twin's scale and speed: counts and the minimum sample scaled by
 * twins/targets (a count wave stays at least one device and larger than the wave before), soak
 * and deadline divided by one factor (soak → 2 s), the rate cap lifted, approvals given by the
 * rehearsal (no approval step). Percentages and thresholds stay as they are.
 */
export function compressPolicy(p: Partial<Policy> & Pick<Policy, 'waves'>, plan: TwinPlan): CompressedPolicy {
  const full = { ...DEFAULT_POLICY, ...p };
  const scale = plan.realTotal > 0 ? plan.twinTotal / plan.realTotal : 1;
  let last = 0;
  const waves: WaveSpec[] = p.waves.map((w) => {
    if ('percent' in w) return w;
    const count = Math.max(last + 1, Math.round(w.count * scale));
    last = count;
    return { count };
  });
  const twinSoak = full.soakSeconds > 0 ? Math.min(full.soakSeconds, TWIN_SOAK_S) : 0;
  const factor = full.soakSeconds > 0 ? full.soakSeconds / twinSoak : 1;
  const twinDeadline = Math.max(TWIN_MIN_DEADLINE_S, Math.ceil(full.deadlineSeconds / factor), twinSoak);
  return {
    policy: {
      ...p,
      waves,
      soakSeconds: twinSoak,
      deadlineSeconds: twinDeadline,
      minSample: Math.max(1, Math.round(full.minSample * scale)),
      ratePerMinute: null,
      approval: false,
    },
    time: { soakSeconds: full.soakSeconds, twinSoakSeconds: twinSoak, deadlineSeconds: full.deadlineSeconds, twinDeadlineSeconds: twinDeadline },
  };
}

async function untilEnded(api: ApiClient, id: string, timeoutMs: number): Promise<RolloutBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api.get<RolloutBody>(`/v1/rollouts/${encodeURIComponent(id)}`);
    // paused is an end for a rehearsal: on the real fleet it waits for a person
    if ((FINAL_ROLLOUT_STATES as readonly string[]).includes(r.state) || r.state === 'paused') return r;
    if (Date.now() > deadline) return { ...r, reason: `rehearsal stopped after ${Math.round(timeoutMs / 1000)} s, still ${r.state}` };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function rehearse(o: RehearsalOptions): Promise<Prediction> {
  const started = Date.now();
  const say = o.progress ?? (() => {});
  // 1. the real plan: refuses what creating would refuse (unknown release, nothing selected)
  await o.real.post('/v1/rollouts/plan', { module: o.module, version: o.version, selector: o.selector });
  // 2. the targets with their hellos, and their twin
  const { devices } = await o.real.get<{ devices: DeviceView[] }>('/v1/devices');
  const plan = planTwin(devices.filter((d) => matchesSelector(o.selector, d)), Math.max(1, o.maxTwins ?? 50));
  const { policy, time } = compressPolicy(o.policy, plan);
  const failRate = o.failRate ?? 0.05;
  say(`rehearsing on ${plan.twinTotal} simulated twin(s) of ${plan.realTotal} target(s)…`);
  const world = await startTwinWorld({
    real: o.real,
    keysDir: o.keysDir,
    plan,
    release: { name: o.module, version: o.version },
    failRate,
    seed: o.seed ?? 'rehearsal',
    probationTicks: 2,
    setupTimeoutMs: 60_000,
  });
  try {
    // 3. the same rollout on the twins (authorizations signed with the operator's release key)
    const created = await createRollout(world.api, {
      module: o.module,
      version: o.version,
      selector: { tags: { ...TWIN_TAG } },
      policy,
      validSeconds: 3600,
      keysDir: o.keysDir,
    });
    const id = created.rollout!.id;
    const end = await untilEnded(world.api, id, o.timeoutMs ?? 180_000);
    const { devices: members } = await world.api.get<{ devices: MemberBody[] }>(`/v1/rollouts/${encodeURIComponent(id)}/devices`);
    const { waves, excluded } = predictWaves(
      members.map((m) => ({ device: m.deviceId, wave: m.wave, state: m.state, reason: m.reason })),
      o.policy.waves.length,
    );
    return {
      release: `${o.module}@${o.version}`,
      twins: plan.twinTotal,
      targets: plan.realTotal,
      unrehearsed: plan.unrehearsed,
      profiles: plan.profiles.length,
      failRate,
      time,
      outcome: { state: end.state, reason: end.reason },
      waves,
      excluded,
      elapsedMs: Date.now() - started,
    };
  } finally {
    await world.close();
  }
}
