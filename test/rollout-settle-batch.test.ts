// The rollout engine writes the outcomes of one tick's devices in one transaction
// (server/rollouts/engine.ts; in the 1,000-device bench a commit per device cost 0.6 ms of server
// CPU each, docs/device-sim.md). When that write fails, nothing is lost: the devices are looked at
// again on the next tick and their members still settle, none is left `assigned` until its deadline.
import { afterEach, expect, it, vi } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { RolloutRepo, type MemberRow } from '../server/store/rollouts.js';
import type { SqlRunner } from '../server/store/sql.js';
import { members } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

let fleet: TestFleet | undefined;
let sims: Fleet | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await sims?.stop();
  await fleet?.close();
  sims = fleet = undefined;
});

it('a tick whose outcome write fails (an injected disk error) settles the same members on the next tick', async () => {
  fleet = await startFleet();
  sims = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, devices: 3, prefix: 'settle', tags: { site: 's' }, agent: { probation: { ticks: 1 } } });
  await waitFor('3 devices online', () => sims!.summary().online === 3);
  await fleet.publish('counter', 'counter', '1.0.0');

  const original = RolloutRepo.prototype.updateMember;
  let failed = 0;
  vi.spyOn(RolloutRepo.prototype, 'updateMember').mockImplementation(async function (this: RolloutRepo, m: MemberRow, q?: SqlRunner) {
    if (m.state === 'committed' && failed === 0) {
      failed++;
      throw Object.assign(new Error('disk I/O error (injected)'), { code: 'SQLITE_IOERR' });
    }
    return original.call(this, m, q);
  });

  const d = await fleet.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site: 's' } });
  const settled = await waitFor(
    'every member committed',
    async () => {
      const ms = await members(fleet!.api, d.deployment);
      return ms.length === 3 && ms.every((m) => m.state === 'committed') ? ms : undefined;
    },
    60_000,
  );
  expect(failed).toBe(1);
  expect(settled.map((m) => m.deviceId).sort()).toEqual(['settle-0001', 'settle-0002', 'settle-0003']);
});
