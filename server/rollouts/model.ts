// The rollout model (docs/rollouts.md): selector, policy, states and the pure rules over them.
// Nothing here touches the store or the clock; the engine feeds it rows and times.
import { WfError } from '../../protocol/errors.js';
import type { DeviceFacts } from '../store/devices.js';

/** Rollout states; the ones after the arrow are final. draft → running ⇄ paused → completed | aborted | rolled_back. */
export const ROLLOUT_STATES = ['draft', 'running', 'paused', 'completed', 'aborted', 'rolled_back'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const FINAL_ROLLOUT_STATES: readonly RolloutState[] = ['completed', 'aborted', 'rolled_back'];

/**
 * What a device is owed by a rollout:
 *  pending   joined, waiting for a wave slot (or for a rollback authorization: reason says so)
 *  assigned  directive issued in wave `wave`, attempt `attempt`, deadline running
 *  committed the device committed the release
 *  failed    the device refused or reverted it (reason from the device), or retries ran out
 *  timed_out no final report before the deadline (reason DEVICE_TIMEOUT)
 *  excluded  pre-flight found it cannot run the release (reason), or the rollout ended before its turn
 *  reverting the rollout rolled back: a directive to its previous release is out
 *  rolled_back the device is back on its previous release
 */
export const MEMBER_STATES = ['pending', 'assigned', 'committed', 'failed', 'timed_out', 'excluded', 'reverting', 'rolled_back'] as const;
export type MemberState = (typeof MEMBER_STATES)[number];
/** States that count as a decided outcome for the thresholds. */
export const FAILURE_STATES: readonly MemberState[] = ['failed', 'timed_out'];

export interface Selector {
  devices?: string[];
  tags?: Record<string, string>;
  /** Host kinds (v8, wasm3, wamr): any of. */
  hosts?: string[];
  abi?: number;
  /** Capabilities the device must grant, all of. */
  capabilities?: string[];
  /** The device currently runs this release ("name@version") or this component ("name"). */
  running?: string;
}

export type WaveSpec = { percent: number } | { count: number };

export interface Policy {
  waves: WaveSpec[];
  soakSeconds: number;
  /** Devices started per minute in wave 0; null = no cap. */
  ratePerMinute: number | null;
  /** Rate multiplier per wave (AWS-style exponential growth); 1 = constant. */
  rateGrowth: number;
  deadlineSeconds: number;
  retries: number;
  /** Percent of a wave's decided devices that must have committed before the next wave. */
  successPercent: number;
  /** Percent of decided devices that may fail before `onFailure` triggers… */
  maxFailuresPercent: number;
  /** …once at least this many devices are decided. */
  minSample: number;
  onFailure: 'pause' | 'rollback';
  /** Wait for `rollout approve` between waves. */
  approval: boolean;
  allowNewCapabilities: boolean;
}

export const DEFAULT_POLICY: Omit<Policy, 'waves'> = {
  soakSeconds: 0,
  ratePerMinute: null,
  rateGrowth: 1,
  deadlineSeconds: 3600,
  retries: 0,
  successPercent: 100,
  maxFailuresPercent: 100,
  minSample: 1,
  onFailure: 'pause',
  approval: false,
  allowNewCapabilities: false,
};

const bad = (what: string) => new WfError('ROLLOUT_POLICY_INVALID', what);

/** Check a policy's numbers; every error names the field. */
export function validatePolicy(p: Policy): Policy {
  if (p.waves.length === 0 || p.waves.length > 32) throw bad('waves: 1 to 32 waves');
  let lastPercent = 0;
  let lastCount = 0;
  p.waves.forEach((w, i) => {
    if ('percent' in w) {
      if (!(w.percent > 0 && w.percent <= 100)) throw bad(`waves[${i}]: ${w.percent}% is outside (0, 100]`);
      if (w.percent <= lastPercent) throw bad(`waves[${i}]: ${w.percent}% must be larger than the wave before`);
      lastPercent = w.percent;
    } else {
      if (!Number.isInteger(w.count) || w.count < 1) throw bad(`waves[${i}]: count ${w.count} must be a positive integer`);
      if (w.count <= lastCount) throw bad(`waves[${i}]: ${w.count} devices must be more than the wave before`);
      lastCount = w.count;
    }
  });
  const last = p.waves[p.waves.length - 1];
  if (!('percent' in last) || last.percent !== 100) throw bad('waves: the last wave must be 100%');
  const pct = (v: number, name: string) => {
    if (!(v >= 0 && v <= 100)) throw bad(`${name}: ${v}% is outside [0, 100]`);
  };
  pct(p.successPercent, 'successPercent');
  pct(p.maxFailuresPercent, 'maxFailuresPercent');
  if (!Number.isInteger(p.minSample) || p.minSample < 1) throw bad(`minSample: ${p.minSample} must be a positive integer`);
  if (!Number.isInteger(p.retries) || p.retries < 0 || p.retries > 10) throw bad(`retries: ${p.retries} must be 0-10`);
  if (!(p.soakSeconds >= 0)) throw bad(`soak: ${p.soakSeconds} s`);
  if (!(p.deadlineSeconds > 0)) throw bad(`deadline: ${p.deadlineSeconds} s must be positive`);
  if (p.deadlineSeconds < p.soakSeconds) throw bad(`deadline (${p.deadlineSeconds} s) is shorter than the soak (${p.soakSeconds} s)`);
  if (p.ratePerMinute !== null && !(p.ratePerMinute >= 1 && p.ratePerMinute <= 1_000_000)) throw bad(`rate: ${p.ratePerMinute}/min must be 1-1000000`);
  if (!(p.rateGrowth >= 1 && p.rateGrowth <= 10)) throw bad(`rateGrowth: ${p.rateGrowth} must be 1-10`);
  return p;
}

/** How many devices waves 0..k may have started in all, out of `total` eligible members. */
export function waveCap(waves: WaveSpec[], k: number, total: number): number {
  const w = waves[Math.min(k, waves.length - 1)];
  if ('percent' in w) return w.percent >= 100 ? total : Math.min(total, Math.max(1, Math.ceil((w.percent * total) / 100)));
  return Math.min(total, w.count);
}

/** Rate cap of wave k in devices per minute, or null. */
export function waveRate(p: Policy, k: number): number | null {
  return p.ratePerMinute === null ? null : p.ratePerMinute * Math.pow(p.rateGrowth, k);
}

/**
 * Generic cell rate algorithm: one device per 60000/rate ms, with a burst of one second's worth.
 * Returns the new theoretical arrival time, or null when the device must wait.
 */
export function rateAdmit(tatMs: number, nowMs: number, ratePerMinute: number | null): number | null {
  if (ratePerMinute === null) return tatMs;
  const interval = 60_000 / ratePerMinute;
  const burst = Math.max(1, Math.floor(ratePerMinute / 60));
  const tolerance = interval * (burst - 1);
  if (tatMs - nowMs > tolerance) return null;
  return Math.max(tatMs, nowMs) + interval;
}

/** When rateAdmit will next admit a device. */
export function rateReadyAt(tatMs: number, ratePerMinute: number): number {
  const interval = 60_000 / ratePerMinute;
  return Math.ceil(tatMs - interval * (Math.max(1, Math.floor(ratePerMinute / 60)) - 1));
}

export interface Counts {
  committed: number;
  failed: number;
  decided: number;
}

/** Failure threshold: trips once the sample is large enough and failures exceed the percentage. */
export function failureTripped(p: Policy, c: Counts): boolean {
  return c.decided >= p.minSample && c.failed * 100 > p.maxFailuresPercent * c.decided;
}

/** Success threshold of a settled wave. An empty wave passes. */
export function successMet(p: Policy, c: Counts): boolean {
  return c.decided === 0 || c.committed * 100 >= p.successPercent * c.decided;
}

export function matchesSelector(sel: Selector, d: DeviceFacts): boolean {
  if (sel.devices && sel.devices.length > 0 && !sel.devices.includes(d.id)) return false;
  if (sel.tags) for (const [k, v] of Object.entries(sel.tags)) if (d.tags[k] !== v) return false;
  if (sel.hosts && sel.hosts.length > 0 && (!d.hello || !sel.hosts.includes(d.hello.host))) return false;
  if (sel.abi !== undefined && d.hello?.abi !== sel.abi) return false;
  if (sel.capabilities && sel.capabilities.length > 0) {
    const granted = d.hello?.capabilities ?? [];
    if (!sel.capabilities.every((c) => granted.includes(c))) return false;
  }
  if (sel.running) {
    const [name, version] = sel.running.split('@');
    if (!d.running.some((r) => r.component === name && (version === undefined || r.version === version))) return false;
  }
  return true;
}

export function selectorIsEmpty(sel: Selector): boolean {
  return !sel.devices?.length && !sel.tags && !sel.hosts?.length && sel.abi === undefined && !sel.capabilities?.length && !sel.running;
}

/** What the release needs, for pre-flight. */
export interface ReleaseNeeds {
  component: string;
  manifestDigest: string;
  abi: number;
  capabilities: string[];
  /** Bytes of linear memory plus stack. */
  memoryBytes: number;
  size: number;
}

/** Pre-flight of one device against the release: null when it can run it, else the reason code and detail. */
export function preflight(need: ReleaseNeeds, d: DeviceFacts): { code: string; detail: string } | null {
  const h = d.hello;
  if (!h) return { code: 'DEVICE_NO_HELLO', detail: 'the device has never said hello: its host is unknown' };
  if (h.abi !== need.abi) return { code: 'ABI_UNSUPPORTED', detail: `device speaks host ABI v${h.abi}, the release needs v${need.abi}` };
  const missing = need.capabilities.filter((c) => !h.capabilities.includes(c));
  if (missing.length > 0) return { code: 'CAPABILITY_NOT_GRANTED', detail: `device does not grant ${missing.join(', ')}` };
  if (need.memoryBytes > h.memory) return { code: 'MEMORY_TOO_LARGE', detail: `release needs ${need.memoryBytes} bytes, device has ${h.memory}` };
  // The image is pulled in chunks of at most max_chunk; the chunk index is 24 bits on the wire.
  if (Math.ceil(need.size / h.maxChunk) > 0xffffff) return { code: 'IMAGE_TOO_LARGE', detail: `${need.size} bytes in ${h.maxChunk}-byte chunks` };
  return null;
}
