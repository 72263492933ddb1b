// The operator API's JSON views (docs/architecture.md): what the server answers and the CLI,
// the simulator and the tests read. One definition for both sides of the HTTP API.
import type { ErrorCode } from './errors.js';
import type { Hello } from './messages.js';

export interface RunningView {
  component: string;
  version: string;
  manifestDigest: string;
}

export interface DeviceView {
  id: string;
  tags: Record<string, string>;
  createdAt: number;
  online: boolean;
  lastSeen: number | null;
  hello: (Omit<Hello, 'running'> & { running?: RunningView[] }) | null;
  state: string;
  reason: string | null;
  detail: string | null;
  sequence: number;
  targetSequence: number | null;
  running: RunningView[];
  progress: { bytes: number; total: number } | null;
  lastError: string | null;
  /** How the device authenticates: a password, or a client certificate issued by the fleet CA. */
  credential: 'password' | 'certificate';
  certSerial: string | null;
  certNotAfter: number | null;
  /** Set by "devices revoke": every credential of the device is refused from then on. */
  revokedAt: number | null;
}

export interface ModuleView {
  name: string;
  version: string;
  sha256: string;
  size: number;
  manifestDigest: string;
  capabilities: string[];
  maxPages: number;
  createdAt: number;
}

/** One device of a rollback plan: what it runs and what it would go back to. */
export interface RollbackTarget {
  device: string;
  component: string;
  from: string;
  version: string;
  manifestDigest: string;
  /** True when the target is older than what runs: the device needs a rollback authorization. */
  downgrade: boolean;
}

/** A device left out of a rollback, and why (the message names the device). */
export interface RollbackSkip {
  device: string;
  code: ErrorCode;
  message: string;
}

export interface RollbackPlan {
  targets: RollbackTarget[];
  skipped: RollbackSkip[];
}

/** An operator token as the API shows it (never the token itself). */
export interface TokenView {
  id: string;
  name: string;
  role: 'viewer' | 'deployer' | 'admin';
  createdAt: number;
  revokedAt: number | null;
}

// ---------------------------------------------------------------- web console (docs/console.md)
// Every string that came from a device (reasons, details, hello fields, telemetry names, tag
// values) is bounded by the server and returned as data: the page must escape it.

/** A browser session made from an operator token (POST /v1/session, GET /v1/session). */
export interface SessionView {
  /** The operator token's id and name, and its role (read live: a role change applies at once). */
  tokenId: string;
  name: string;
  role: 'viewer' | 'deployer' | 'admin';
  /** Send it as the X-WF-CSRF header with every request that changes state. */
  csrf: string;
  /** Milliseconds since the epoch: the session ends then at the latest (absolute limit)... */
  expiresAt: number;
  /** ...or earlier, at this time, if no request comes before it (idle limit; each request moves it). */
  idleExpiresAt: number;
}

/** GET /v1/console/fleet: the fleet page's counts. */
export interface FleetSummaryView {
  devices: number;
  online: number;
  offline: number;
  /** Device state (idle, downloading, committed, failed, ...) → devices. */
  byState: Record<string, number>;
  /** What devices run, one row per module@version, most devices first. A device running two components counts in both. */
  byRelease: Array<{ release: string; module: string; version: string; devices: number }>;
  /** Host kind from the hello (v8, wasm3, wamr), "unknown" before the first hello. */
  byHost: Record<string, number>;
  /** Modules with at least one commit: the ones GET /v1/console/adoption can chart. */
  adoptionModules: string[];
  /** Server time of the counts (ms). */
  at: number;
}

/** GET /v1/console/adoption?module=: devices per version over time (from committed reports). */
export interface AdoptionView {
  module: string;
  /** Seconds since the epoch: first and last bucket end. */
  from: number;
  to: number;
  bucketSeconds: number;
  /** Every version that appears, oldest first (semver order). */
  versions: string[];
  /** At most `points` buckets; counts[v] = devices whose latest commit of the module at `at` was v. */
  points: Array<{ at: number; counts: Record<string, number> }>;
}

/** One row of the devices page (GET /v1/devices?limit=...). */
export interface DeviceRowView {
  id: string;
  tags: Record<string, string>;
  online: boolean;
  /** Seconds since the epoch, null before the device was ever seen. */
  lastSeen: number | null;
  state: string;
  reason: string | null;
  /** Host kind from the hello; null before the first hello. */
  host: string | null;
  running: RunningView[];
  /** The last failed or rolled_back report: its reason code and detail. */
  lastError: { code: string; detail: string | null } | null;
}

/** GET /v1/devices?limit=...: one page in id order, the total matching the filters, and the next page's cursor. */
export interface DevicePageView {
  devices: DeviceRowView[];
  total: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** One entry of a device's history (GET /v1/devices/:id/history), newest first. */
export interface DeviceEventView {
  /** Milliseconds since the epoch (server time). */
  at: number;
  /** directive: the server issued one (rollout, deploy or rollback); report: the device changed state. */
  kind: 'directive' | 'report';
  sequence: number | null;
  /** Report: the device's state and reason code (failed, rolled_back, ...). */
  state: string | null;
  reason: string | null;
  detail: string | null;
  /** Report: the sequence it works on. */
  targetSequence: number | null;
  /** Directive: the rollout or deployment that issued it. */
  rollout: string | null;
  /** Directive: what it names; report: what the device runs. module@version each. */
  releases: string[];
}

export interface DeviceHistoryView {
  events: DeviceEventView[];
  /** How many report events the server keeps per device (older ones are dropped). */
  keep: number;
}

/** GET /v1/devices/:id/telemetry: latest values and recent ones per name. */
export interface TelemetryView {
  latest: Array<{ name: string; value: number; at: number }>;
  /** Recent values per name, oldest first; at = server receive time (ms), one point per bucket. */
  series: Array<{ name: string; points: Array<{ at: number; value: number }> }>;
  bucketMs: number;
  /** Points kept per name. */
  keep: number;
}

/** A module version with what changed in its capabilities since the version before it (semver order). */
export interface ModuleVersionView extends ModuleView {
  previous: string | null;
  added: string[];
  removed: string[];
}

/** GET /v1/console/modules: every module, versions newest first. */
export interface ModuleCatalogView {
  modules: Array<{ name: string; versions: ModuleVersionView[] }>;
}

/** A device of a rollout that failed, timed out or was rolled back. */
export interface RolloutFailureView {
  device: string;
  state: string;
  reason: string | null;
  detail: string | null;
  /** 1-based wave, null if it never got one. */
  wave: number | null;
  updatedMs: number;
}

/**
 * GET /v1/rollouts/:id/live and every `snapshot` event of GET /v1/rollouts/:id/events:
 * what the live view draws. Built from grouped counts (never the member list).
 */
export interface RolloutLiveView {
  id: string;
  kind: string;
  module: string;
  version: string;
  state: string;
  reason: string | null;
  /** The current wave, 1-based, and how many there are. */
  wave: number;
  waveCount: number;
  awaitingApproval: boolean;
  createdMs: number;
  updatedMs: number;
  /** Seconds since the epoch. */
  expires: number;
  selector: Record<string, unknown>;
  policy: Record<string, unknown>;
  waveStartedMs: number | null;
  waveSettledMs: number | null;
  /** When the current wave's soak ends (ms); null until the wave has settled. */
  soakEndsMs: number | null;
  devices: number;
  states: Record<string, number>;
  reasons: Array<{ state: string; reason: string; devices: number }>;
  waves: Array<{ wave: number; spec: { percent?: number; count?: number }; cap: number; states: Record<string, number> }>;
  /** The most recent failures (at most 100), newest first, and how many there are in all. */
  failures: RolloutFailureView[];
  failuresTotal: number;
  /** The rollout is over (completed, aborted, rolled_back) and nothing of it is in flight. */
  final: boolean;
  /** Server time of the snapshot (ms). */
  at: number;
}

/** The `end` event of GET /v1/rollouts/:id/events; the server closes the stream after it. */
export interface RolloutStreamEnd {
  id: string;
  /** ROLLOUT_FINISHED (state final, nothing in flight) or ROLLOUT_NOT_FOUND. */
  reason: 'ROLLOUT_FINISHED' | 'ROLLOUT_NOT_FOUND';
  state: string | null;
}

/** An entry of GET /v1/audit: the append-only log of operator actions and the engine's own decisions. */
export interface AuditEntryView {
  id: number;
  /** Seconds since the epoch. */
  at: number;
  action: string;
  /** Who decided: "operator" (a request) or "engine" (the rollout engine on its own). */
  kind: string;
  rollout: string | null;
  reason: string | null;
  /** "<token id> <token name>" of the operator who acted; null for the server's own decisions. */
  actor: string | null;
  detail: Record<string, unknown>;
}
