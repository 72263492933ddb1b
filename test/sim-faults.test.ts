// The fleet harness under injected faults, against the real server: dropped connections and agent
// restarts mid-download, corrupted chunks, slow links and skewed clocks. Every device still ends
// committed. Also: counter-flaky splits a fleet about in half, by each device's seeded sensor.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { Fleet } from '../device-sim/fleet.js';
import { faultsFor } from '../device-sim/faults.js';
import { sensorValue } from '../device-sim/host-abi.js';
import { EXAMPLES, startFleet, type TestFleet } from './helpers/server.js';

const DEVICES = 40;
let server: TestFleet;

beforeAll(async () => {
  server = await startFleet();
});

afterAll(async () => {
  await server?.close();
});

const publish = (example: string, name: string, version: string) =>
  publishModuleFile(server.api, join(EXAMPLES, `${example}.wat`), { name, version, tickMs: 500, stack: 16384, keysDir: server.keysDir });

describe('simulated fleet with injected faults', () => {
  it('every device commits despite disconnects, restarts, corrupt chunks, slow links and clock skew', async () => {
    const seed = 'faults';
    const fleet = await Fleet.start({
      server: server.server.httpUrl,
      token: server.server.operatorToken,
      devices: DEVICES,
      seed,
      tags: { group: seed },
      stateDir: join(server.dir, seed),
      failRate: 0.5,
      workers: 1,
      // 256-byte chunks: the 276-byte counter image takes two, so faults can strike mid-download.
      agent: { probation: { ticks: 2 }, chunkSize: 256, chunkTimeoutMs: 1000 },
    });
    try {
      await fleet.waitFor('every device online', (s) => s.online === DEVICES, 60_000);
      await publish('counter', 'counter', '1.0.0');
      await server.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { group: seed } });
      const s = await fleet.waitFor('all committed', (x) => x.running['counter@1.0.0'] === DEVICES && x.inProgress === 0 && x.online === DEVICES, 120_000);
      expect(s.states.committed).toBe(DEVICES);
      const devices = fleet.statuses();
      // The faults did happen: some devices carry each kind, and restarted agents came back committed.
      for (const kind of ['disconnect', 'restart', 'corrupt', 'slow', 'skew']) {
        expect(devices.filter((d) => d.faults.includes(kind)).length, kind).toBeGreaterThan(0);
      }
      expect(devices.filter((d) => d.restarts > 0).length).toBeGreaterThan(0);
      expect(devices.filter((d) => d.drops > 0).length).toBeGreaterThan(0);
    } finally {
      await fleet.stop();
    }
  }, 150_000);

  it('counter-flaky traps on about half of the devices: those revert by themselves, the rest commit', async () => {
    const seed = 'flaky';
    const fleet = await Fleet.start({
      server: server.server.httpUrl,
      token: server.server.operatorToken,
      devices: DEVICES,
      seed,
      tags: { group: seed },
      stateDir: join(server.dir, seed),
      workers: 1,
      agent: { probation: { ticks: 2 } },
    });
    try {
      await fleet.waitFor('every device online', (s) => s.online === DEVICES, 60_000);
      await publish('counter', 'app', '1.0.0');
      await server.api.post('/v1/deployments', { module: 'app', version: '1.0.0', tags: { group: seed } });
      await fleet.waitFor('v1 everywhere', (x) => x.running['app@1.0.0'] === DEVICES && x.inProgress === 0, 90_000);
      await publish('counter-flaky', 'app', '2.0.0');
      const { devices } = await server.api.post<{ devices: Array<{ sequence: number }> }>('/v1/deployments', { module: 'app', version: '2.0.0', tags: { group: seed } });
      const seq = devices[0].sequence;
      const s = await fleet.waitFor('every device settled on v2', (_, f) => f.statuses().every((d) => d.sequence >= seq || (d.state === 'rolled_back' && d.targetSequence === seq)), 90_000);
      // Which devices trap is a pure function of their seed: the prediction must match exactly.
      const predictedBad = fleet.ids.filter((id) => sensorValue(`${seed}/${id}`, 7) >= 0.5);
      expect(s.states.rolled_back ?? 0).toBe(predictedBad.length);
      expect(s.reasons).toEqual({ MODULE_TRAP: predictedBad.length });
      expect(s.running).toEqual({ 'app@1.0.0': predictedBad.length, 'app@2.0.0': DEVICES - predictedBad.length });
      expect(predictedBad.length).toBeGreaterThan(DEVICES * 0.25);
      expect(predictedBad.length).toBeLessThan(DEVICES * 0.75);
    } finally {
      await fleet.stop();
    }
  }, 150_000);

  it('the seeded sensor splits a large fleet close to 50/50, and fault draws are deterministic', () => {
    const n = 2000;
    const bad = Array.from({ length: n }, (_, i) => sensorValue(`seed/sim-${i}`, 7) >= 0.5).filter(Boolean).length;
    expect(bad / n).toBeGreaterThan(0.45);
    expect(bad / n).toBeLessThan(0.55);
    expect([...faultsFor('s', 'dev-1', 0.5).kinds]).toEqual([...faultsFor('s', 'dev-1', 0.5).kinds]);
    expect(faultsFor('s', 'dev-1', 0).kinds.size).toBe(0);
  });
});
