// The update state machine as data (protocol/update-table.ts): the committed vectors file the C
// host also runs equals the table, and the table keeps the safety properties of docs/protocol.md §5.1.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEVICE_STATES, type DeviceState } from '../protocol/states.js';
import { transition, transitionVectors, UPDATE_EVENTS } from '../protocol/update-table.js';

const reachable = (from: DeviceState, to: DeviceState) => UPDATE_EVENTS.some((e) => transition(from, e)?.next === to);

describe('update transition table', () => {
  it('protocol/vectors/transitions.json equals the table (run "npm run vectors" after a change)', () => {
    const onDisk = JSON.parse(readFileSync('protocol/vectors/transitions.json', 'utf8'));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(transitionVectors())));
    expect(onDisk.transitions).toHaveLength(DEVICE_STATES.length * UPDATE_EVENTS.length);
  });

  it('walks the happy path, a trap in probation, a bad digest and an up-to-date directive', () => {
    const walk = (from: DeviceState, events: (typeof UPDATE_EVENTS)[number][]) =>
      events.reduce<DeviceState | null>((s, e) => (s ? (transition(s, e)?.next ?? null) : null), from);
    expect(walk('idle', ['bundle_ok', 'start', 'chunk', 'chunk', 'complete', 'digest_ok', 'loaded', 'passed'])).toBe('committed');
    expect(walk('committed', ['bundle_ok', 'start', 'complete', 'digest_ok', 'loaded', 'failed'])).toBe('rolled_back');
    expect(walk('committed', ['bundle_ok', 'start', 'complete', 'reject'])).toBe('failed');
    expect(walk('committed', ['bundle_ok', 'up_to_date'])).toBe('committed');
  });

  it('keeps the safety properties: nothing skips verification, probation ends only by its verdict', () => {
    expect(transition('probation', 'bundle_ok')).toBeNull();
    expect(transition('probation', 'reject')).toBeNull();
    expect(reachable('downloading', 'installing')).toBe(false);
    expect(reachable('downloading', 'probation')).toBe(false);
    expect(reachable('assigned', 'probation')).toBe(false);
    for (const s of DEVICE_STATES) {
      expect(reachable(s, 'committed'), s).toBe(s === 'probation' || s === 'assigned');
      expect(reachable(s, 'rolled_back'), s).toBe(s === 'probation');
    }
    // Failures carry their reason code; nothing else does.
    for (const v of transitionVectors().transitions) expect(v.reason, `${v.state}/${v.event}`).toBe(v.next === 'failed' || v.next === 'rolled_back');
  });
});
