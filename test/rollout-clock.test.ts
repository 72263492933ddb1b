// The engine's clock is injected: soaks of 10 minutes, deadlines of an hour and expiry are tested by
// moving a fake clock, with the real server, broker and simulated devices around it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { auditOf, members, rolloutView, startRollout, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

let now = Date.now();
let server: TestFleet;
let fleet: Fleet;

beforeAll(async () => {
  server = await startFleet({ clock: () => now, rolloutTickMs: 50 });
  fleet = await Fleet.start({ server: server.server.httpUrl, token: server.server.operatorToken, devices: 3, seed: 'clk', prefix: 'clk', tags: { g: 'clk' }, stateDir: join(server.dir, 'sim'), workers: 1, agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 } });
  await fleet.waitFor('online', (s) => s.online === 3, 30_000);
  await waitFor('hellos', async () => (await server.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello), 30_000);
  await server.publish('counter', 'counter', '1.0.0');
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  await server?.close();
});

describe('rollout timing on a fake clock', () => {
  it('a 10-minute soak holds the next wave until the clock passes it; a silent device times out after its 1 h deadline', async () => {
    const silent = fleet.ids[2];
    const r = await startRollout(server.api, server.keysDir, 'counter@1.0.0', { tags: { g: 'clk' } }, { waves: [{ count: 1 }, { percent: 100 }], soakSeconds: 600, deadlineSeconds: 3600 });
    await waitRollout(server.api, r.id, 'wave 1 settled', (v) => v.states.committed === 1 && v.waveSettledMs !== null);
    await fleet.agent(silent).stop();
    now += 599_000; // one second short of the soak
    await new Promise((res) => setTimeout(res, 500));
    expect((await rolloutView(server.api, r.id)).wave).toBe(0);
    now += 2_000;
    await waitRollout(server.api, r.id, 'wave 2 started', (v) => v.wave === 1);
    await waitRollout(server.api, r.id, 'wave 2: one committed, one in flight', (v) => v.states.committed === 2 && v.states.assigned === 1);
    now += 3_599_000; // deadline not reached yet
    await new Promise((res) => setTimeout(res, 500));
    expect((await rolloutView(server.api, r.id)).states.assigned).toBe(1);
    now += 2_000;
    await waitRollout(server.api, r.id, 'timed out', (v) => v.states.timed_out === 1);
    expect((await members(server.api, r.id)).find((m) => m.deviceId === silent)).toMatchObject({ state: 'timed_out', reason: 'DEVICE_TIMEOUT' });
    now += 601_000;
    const done = await waitRollout(server.api, r.id, 'done', (v) => v.state !== 'running');
    // Wave 2 settles with 1 of its 2 devices timed out: below the default success threshold (100%), so it pauses.
    expect(done).toMatchObject({ state: 'paused', reason: 'SUCCESS_THRESHOLD' });
    const actions = (await auditOf(server.api, r.id)).map((e) => e.action);
    expect(actions).toEqual(['rollout.created', 'wave.settled', 'wave.advanced', 'device.timed_out', 'wave.settled', 'rollout.paused']);
    // Past --expires (7 days here) the rollback authorizations are void: the rollout ends.
    now += 7 * 86_400_000;
    await waitRollout(server.api, r.id, 'expired', (v) => v.state === 'aborted' && v.reason === 'EXPIRED');
    await fleet.restart(silent);
  }, 60_000);
});
