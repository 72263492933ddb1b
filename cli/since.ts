// --since for commands that read a log: a duration back from now ("90s", "10m", "2h", "1d",
// "1h30m") or an ISO 8601 time ("2026-11-23", "2026-11-23T14:05:00Z").
import { usageError } from './options.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(?:\d+[smhdw])+$/;
// A calendar date, optionally with a time and a zone: what Date.parse reads the same everywhere.
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Seconds since the epoch that `value` names, relative to `nowSeconds` for durations. */
export function parseSince(value: string, nowSeconds = Math.floor(Date.now() / 1000)): number {
  const v = value.trim();
  if (DURATION.test(v)) {
    let seconds = 0;
    for (const [, n, unit] of v.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * UNIT_SECONDS[unit];
    return nowSeconds - seconds;
  }
  if (ISO.test(v)) {
    const ms = Date.parse(v.replace(' ', 'T'));
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  throw usageError(`--since: expected a duration (30s, 10m, 2h, 1d, 1h30m) or an ISO time (2026-11-23T14:05:00Z), got "${value}"`);
}
