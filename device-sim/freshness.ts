// Freeze detection on a simulated device (protocol.md §3.6, TUF's timestamp role). The device keeps
// the newest freshness statement it accepted; once that expires (or none came within the grace
// after boot) it is stale: it says so in its report and keeps running what it runs.
// Kept in RAM, as on the C host: after a restart the grace starts again.
import { checkFreshness, DEVICE_CLOCK_SKEW_S, type CheckedFreshness, type TrustContext } from '../protocol/device-checks.js';
import { asWfError, type WfError } from '../protocol/errors.js';

export type FreshnessStatus = { stale: false } | { stale: true; reason: 'FRESHNESS_EXPIRED' | 'FRESHNESS_MISSING'; detail: string };

export class FreshnessWatch {
  private lastIssuedAt: number | undefined;
  private expires: number | undefined;
  private readonly bootAt: number;

  constructor(
    /** Seconds after boot without a valid statement before the device is stale. */
    private readonly graceS: number,
    private readonly now: () => number,
  ) {
    this.bootAt = now();
  }

  /** Check one freshness message: what it verified, or the reason it is refused (nothing changes then). */
  accept(bytes: Uint8Array, trust: Omit<TrustContext, 'now'>): CheckedFreshness | WfError {
    try {
      const checked = checkFreshness(bytes, { ...trust, now: this.now(), lastIssuedAt: this.lastIssuedAt });
      this.lastIssuedAt = checked.statement.issuedAt;
      this.expires = checked.statement.expires;
      return checked;
    } catch (err) {
      return asWfError(err);
    }
  }

  status(): FreshnessStatus {
    const now = this.now();
    if (this.expires === undefined) {
      if (now - this.bootAt < this.graceS) return { stale: false };
      return { stale: true, reason: 'FRESHNESS_MISSING', detail: `no valid freshness statement in ${now - this.bootAt} s since boot` };
    }
    if (this.expires + DEVICE_CLOCK_SKEW_S <= now) {
      return { stale: true, reason: 'FRESHNESS_EXPIRED', detail: `last freshness statement expired at ${this.expires}` };
    }
    return { stale: false };
  }
}
