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
