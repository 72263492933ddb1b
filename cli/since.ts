// --since for commands that read a log: a duration back from now (the rollout flags' durations:
// "90s", "10m", "2h", "1d") or an ISO 8601 time ("2026-11-23", "2026-11-23T14:05:00Z").
import { usageError } from './options.js';
import { duration } from './rollout-options.js';

// A calendar date, optionally with a time and a zone: what Date.parse reads the same everywhere.
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const DURATION = /^\d+(?:\.\d+)?[smhd]$/;

/** Seconds since the epoch that `value` names, relative to `nowSeconds` for durations. */
export function parseSince(value: string, nowSeconds = Math.floor(Date.now() / 1000)): number {
  const v = value.trim();
  // A unit is required here: a bare number could as well be a Unix time.
  if (DURATION.test(v)) return Math.floor(nowSeconds - duration(v));
  if (ISO.test(v)) {
    const ms = Date.parse(v.replace(' ', 'T'));
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  throw usageError(`--since: expected a duration (30s, 10m, 2h, 1d) or an ISO time (2026-11-23T14:05:00Z), got "${value}"`);
}
