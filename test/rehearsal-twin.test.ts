// How a rehearsal scales the real targets down to a simulated twin (cli/rehearsal/twin.ts).
import { describe, expect, it } from 'vitest';
import { planTwin } from '../cli/rehearsal/twin.js';
import type { DeviceView } from '../protocol/views.js';

const device = (i: number, host: 'v8' | 'wamr', memory: number, version: string | null): DeviceView => ({
  id: `d-${i}`,
  tags: {},
  createdAt: 0,
  online: true,
  lastSeen: 0,
  hello: { host, abi: 1, capabilities: ['log', 'clock', 'kv'], maxChunk: host === 'wamr' ? 1024 : 65536, memory, agent: 'x' },
  state: 'committed',
  reason: null,
  detail: null,
  sequence: 1,
  targetSequence: null,
  running: version ? [{ component: 'counter', version, manifestDigest: '00' }] : [],
  progress: null,
  lastError: null,
  credential: 'password',
  certSerial: null,
  certNotAfter: null,
  revokedAt: null,
});

describe('rehearsal twin', () => {
  it('keeps every profile (host, capabilities, memory, release) in proportion, within the cap', () => {
    const targets = [
      ...Array.from({ length: 700 }, (_, i) => device(i, 'v8', 1 << 20, '1.0.0')),
      ...Array.from({ length: 290 }, (_, i) => device(1000 + i, 'wamr', 65536, '1.0.0')),
      ...Array.from({ length: 10 }, (_, i) => device(2000 + i, 'wamr', 65536, null)),
    ];
    const plan = planTwin(targets, 50);
    expect(plan.realTotal).toBe(1000);
    expect(plan.twinTotal).toBe(50);
    expect(plan.unrehearsed).toBe(0);
    const by = (host: string, version: string | null) => plan.profiles.find((p) => p.host === host && (p.running?.version ?? null) === version)!;
    expect(by('v8', '1.0.0').twins).toBe(35);
    expect(by('wamr', '1.0.0')).toMatchObject({ twins: 14, memory: 65536, maxChunk: 1024, capabilities: ['clock', 'kv', 'log'] });
    expect(by('wamr', null).twins).toBe(1);
    expect(by('v8', '1.0.0').maxChunk).toBe(16384);
  });

  it('a small fleet is twinned one to one', () => {
    const plan = planTwin([device(1, 'v8', 1 << 20, '1.0.0'), device(2, 'wamr', 65536, '1.0.0'), device(3, 'v8', 1 << 20, '1.0.0')], 50);
    expect(plan.twinTotal).toBe(3);
    expect(plan.profiles.map((p) => p.twins).sort()).toEqual([1, 2]);
  });

  it('more profiles than the cap: the rarest are reported as not rehearsed', () => {
    const targets = Array.from({ length: 60 }, (_, i) => device(i, 'v8', 65536 + i, '1.0.0'));
    targets.push(device(100, 'v8', 65536, '1.0.0'));
    const plan = planTwin(targets, 50);
    expect(plan.twinTotal).toBe(50);
    expect(plan.unrehearsed).toBe(10); // 60 profiles, the 10 rarest (one device each) left out
  });
});
