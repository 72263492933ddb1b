// The operator views' pure parts: terminal escaping of device strings, --since, the audit table,
// the watch's rendering and its end states (the watch itself runs against a real server in
// rollout-watch.test.ts).
import { describe, expect, it } from 'vitest';
import { auditRows } from '../cli/commands/audit.js';
import { jsonLine, renderSnapshot, watchRollout, type WatchSnapshot } from '../cli/commands/rollout-watch.js';
import { escapeForTerminal } from '../cli/escape.js';
import { parseSince } from '../cli/since.js';

describe('escapeForTerminal', () => {
  it('shows control characters, C1 codes and bidi overrides as escapes, printable text unchanged', () => {
    expect(escapeForTerminal('MODULE_TRAP: unreachable')).toBe('MODULE_TRAP: unreachable');
    expect(escapeForTerminal('ok\x1b[2J\x1b]0;pwned\x07')).toBe('ok\\x1b[2J\\x1b]0;pwned\\x07');
    expect(escapeForTerminal('a\nb\rc\td')).toBe('a\\x0ab\\x0dc\\x09d');
    expect(escapeForTerminal('x\u009by\u202ez\u2066')).toBe('x\\x9by\\u202ez\\u2066');
    expect(escapeForTerminal('capteur-température')).toBe('capteur-température');
  });
});

describe('--since', () => {
  const now = 1_800_000_000;
  it('reads durations back from now and ISO times', () => {
    expect(parseSince('10m', now)).toBe(now - 600);
    expect(parseSince('2h', now)).toBe(now - 7200);
    expect(parseSince('90s', now)).toBe(now - 90);
    expect(parseSince('1d', now)).toBe(now - 86400);
    expect(parseSince('2026-11-23T14:05:00Z', now)).toBe(Date.UTC(2026, 10, 23, 14, 5) / 1000);
    expect(parseSince('2026-11-23T15:05:00+01:00', now)).toBe(Date.UTC(2026, 10, 23, 14, 5) / 1000);
  });
  it('refuses anything else as a usage error naming the flag', () => {
    for (const bad of ['yesterday', '10', '10x', '-5m', '2026-13-45T99:00Z', '']) {
      expect(() => parseSince(bad, now), bad).toThrow(/--since: expected a duration/);
    }
  });
});

describe('audit table', () => {
  it('one row per entry with ISO time, who (operator or engine), action, rollout, reason; device strings escaped', () => {
    const rows = auditRows([
      { id: 1, at: 1_800_000_000, kind: 'operator', action: 'rollout.create', rollout: 'r-1', reason: null, actor: 'tok-1 ops', detail: { module: 'counter', version: '1.1.0' } },
      { id: 2, at: 1_800_000_060, kind: 'engine', action: 'device.timeout', rollout: 'r-1', reason: 'DEVICE_TIMEOUT', actor: null, detail: { device: 'evil\x1b[2J' } },
    ]);
    expect(rows[0]).toMatchObject({ at: '2027-01-15T08:00:00Z', by: 'operator', action: 'rollout.create', rollout: 'r-1', reason: '-', detail: 'module=counter version=1.1.0' });
    expect(rows[1]).toMatchObject({ by: 'engine', reason: 'DEVICE_TIMEOUT', detail: 'device=evil\\x1b[2J' });
  });
});

const snap = (over: Partial<WatchSnapshot>): WatchSnapshot => ({
  id: 'r-1',
  release: 'counter@1.1.0',
  state: 'running',
  reason: null,
  wave: 0,
  awaitingApproval: false,
  waves: [
    { index: 0, planned: 2, done: 1, failed: 0, state: 'running' },
    { index: 1, planned: 8, done: 0, failed: 0, state: 'pending' },
  ],
  states: { committed: 1, downloading: 1 },
  reasons: {},
  ...over,
});

describe('rollout watch rendering', () => {
  it('a bar per wave, counts per state and reason, device reasons escaped', () => {
    const text = renderSnapshot(snap({ reasons: { 'MODULE_TRAP\x1b[31m': 1 } }));
    expect(text).toContain('rollout r-1 counter@1.1.0: running (wave 1/2)');
    expect(text).toContain('wave 1 [############------------] 1/2 running');
    expect(text).toContain('wave 2 [------------------------] 0/8 pending');
    expect(text).toContain('devices: committed 1  downloading 1');
    expect(text).toContain('reasons: MODULE_TRAP\\x1b[31m 1');
    expect(text).not.toContain('\x1b');
    expect(JSON.parse(jsonLine(snap({})))).toMatchObject({ id: 'r-1', state: 'running' });
  });

  it('prints once per change and ends with 0 on completed, 1 on paused/aborted/rolled_back', async () => {
    for (const [end, code] of [['completed', 0], ['paused', 1], ['aborted', 1], ['rolled_back', 1]] as const) {
      const seq = [snap({}), snap({}), snap({ states: { committed: 2 } }), snap({ state: end })];
      let i = 0;
      const out: string[] = [];
      const exit = await watchRollout('r-1', async () => seq[Math.min(i++, seq.length - 1)], { intervalMs: 1, json: true, live: false, write: (s) => out.push(s) });
      expect(exit, end).toBe(code);
      expect(out.map((l) => JSON.parse(l).state)).toEqual(['running', 'running', end]);
    }
  });
});
