// Staged rollouts end to end: the real server (embedded aedes + SQLite), 200 simulated devices in
// this process, rollouts created through the CLI's own create function (plan → sign rollback
// authorizations → create). Soaks are seconds so the suite stays short.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { BASE_CAPABILITIES } from '../protocol/abi.js';
import { auditOf, members, startRollout, waitRollout } from './helpers/rollouts.js';
import { EXAMPLES, startFleet, waitFor, type TestFleet } from './helpers/server.js';

const DEVICES = 200;
const GROUP = { group: 'ro' };
const SELECT = { tags: GROUP };
let server: TestFleet;
let fleet: Fleet;
/** 10 devices of the group whose host grants no sensor: pre-flight must exclude them from a sensor release. */
let noSensor: Fleet;
/** Devices outside the group, re-tagged into it mid-rollout. */
let spare: Fleet;

const agentTuning = { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 };

beforeAll(async () => {
  server = await startFleet({ rolloutTickMs: 100 });
  const common = { server: server.server.httpUrl, token: server.server.operatorToken, workers: 2 };
  fleet = await Fleet.start({ ...common, devices: DEVICES - 10, seed: 'ro', prefix: 'ro', tags: GROUP, stateDir: join(server.dir, 'sim'), agent: agentTuning });
  noSensor = await Fleet.start({
    ...common,
    devices: 10,
    seed: 'ns',
    prefix: 'ns',
    tags: GROUP,
    stateDir: join(server.dir, 'sim-ns'),
    agent: { ...agentTuning, capabilities: [...BASE_CAPABILITIES, 'gpio'] },
  });
  spare = await Fleet.start({ ...common, devices: 2, seed: 'sp', prefix: 'sp', tags: { group: 'spare' }, stateDir: join(server.dir, 'sim-sp'), agent: agentTuning });
  await fleet.waitFor('every device online', (s) => s.online === DEVICES - 10, 60_000);
  await noSensor.waitFor('online', (s) => s.online === 10, 30_000);
  await spare.waitFor('online', (s) => s.online === 2, 30_000);
  // Wait until the server has every hello: pre-flight reads them.
  await waitFor('hellos', async () => (await server.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello), 30_000);
}, 180_000);

afterAll(async () => {
  await Promise.all([fleet?.stop(), noSensor?.stop(), spare?.stop()]);
  await server?.close();
});

const publish = (example: string, version: string) => server.publish(example, 'counter', version);
const onRelease = (f: Fleet, release: string) => f.statuses().filter((d) => d.running.some((r) => `${r.component}@${r.version}` === release)).length;
const allFleets = () => [fleet, noSensor];

describe(`staged rollouts on ${DEVICES} simulated devices`, () => {
  it('a healthy release completes wave by wave, each wave waiting its soak', async () => {
    await publish('counter', '1.0.0');
    const r = await startRollout(server.api, server.keysDir, 'counter@1.0.0', SELECT, { waves: [{ percent: 10 }, { percent: 50 }, { percent: 100 }], soakSeconds: 2, deadlineSeconds: 60 });
    expect(r.state).toBe('running');
    const done = await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed', 120_000);
    expect(done.reason).toBe('ALL_WAVES_DONE');
    expect(done.states).toEqual({ committed: DEVICES });
    // Cumulative waves of 10%, 50%, 100% of 200 devices: 20, then 80 more, then 100 more.
    expect(done.waves.map((w) => w.states.committed)).toEqual([20, 80, 100]);
    for (const f of allFleets()) await f.waitFor('all on 1.0.0', () => onRelease(f, 'counter@1.0.0') === f.ids.length, 30_000);

    // Each wave started only after the previous one settled and soaked for 2 s.
    const log = await auditOf(server.api, r.id);
    const settled = log.filter((e) => e.action === 'wave.settled');
    const advanced = log.filter((e) => e.action === 'wave.advanced');
    expect(settled.map((e) => e.detail.wave)).toEqual([0, 1, 2]);
    expect(advanced.map((e) => e.detail.wave)).toEqual([1, 2]);
    const assigned = (await members(server.api, r.id)).map((m) => ({ wave: m.wave!, at: m.assignedMs! }));
    for (const k of [1, 2]) {
      const lastBefore = Math.max(...assigned.filter((a) => a.wave === k - 1).map((a) => a.at));
      const firstNow = Math.min(...assigned.filter((a) => a.wave === k).map((a) => a.at));
      expect(firstNow - lastBefore).toBeGreaterThanOrEqual(2000);
    }
    expect(log.at(-1)!.action).toBe('rollout.completed');
  }, 180_000);

  it('the capability gate refuses a release with a new import, unless allowed (and audited)', async () => {
    // counter-flaky imports sensor_read; 1.0.0 does not: a new capability. Trap on ~20% of devices (sensor 7 >= 0.8).
    const flaky = readFileSync(join(EXAMPLES, 'counter-flaky.wat'), 'utf8').replace('(f64.const 0.5)', '(f64.const 0.8)');
    const file = join(server.dir, 'counter-flaky20.wat');
    writeFileSync(file, flaky);
    const { publishModuleFile } = await import('../cli/commands/module-publish.js');
    await publishModuleFile(server.api, file, { name: 'counter', version: '1.1.0', tickMs: 100, stack: 16384, keysDir: server.keysDir });
    const before = (await server.api.get<{ rollouts: unknown[] }>('/v1/rollouts')).rollouts.length;
    await expect(startRollout(server.api, server.keysDir, 'counter@1.1.0', SELECT, { waves: [{ percent: 100 }] })).rejects.toMatchObject({
      code: 'ROLLOUT_NEW_CAPABILITY',
      message: expect.stringContaining('sensor over counter@1.0.0'),
    });
    expect((await server.api.get<{ rollouts: unknown[] }>('/v1/rollouts')).rollouts).toHaveLength(before);
  });

  it('a release failing on ~20% stops in its first wave and rolls back by itself; pre-flight excludes hosts without the sensor', async () => {
    const r = await startRollout(server.api, server.keysDir, 'counter@1.1.0', SELECT, {
      waves: [{ percent: 30 }, { percent: 100 }],
      soakSeconds: 1,
      deadlineSeconds: 60,
      maxFailuresPercent: 5,
      minSample: 20,
      onFailure: 'rollback',
      allowNewCapabilities: true,
    });
    const done = await waitRollout(server.api, r.id, 'rolled back', (v) => v.state === 'rolled_back' && !v.states.reverting, 120_000);
    expect(done.reason).toBe('FAILURE_THRESHOLD');
    expect(done.wave).toBe(0); // never left the first wave
    // Pre-flight: the 10 hosts without "sensor" were excluded with the reason, never sent anything.
    const list = await members(server.api, r.id);
    const excluded = list.filter((m) => m.state === 'excluded' && m.reason === 'CAPABILITY_NOT_GRANTED');
    expect(excluded.map((m) => m.deviceId).sort()).toEqual([...noSensor.ids].sort());
    expect(excluded.every((m) => m.sequence === null)).toBe(true);
    const started = list.filter((m) => m.wave !== null);
    expect(started.length).toBeLessThanOrEqual(Math.ceil(0.3 * (DEVICES - 10)));
    expect(started.filter((m) => m.state === 'failed').length).toBeGreaterThan(0);
    expect(started.every((m) => m.wave === 0)).toBe(true);
    // The devices it updated went back to 1.0.0 by the rollout's rollback; those that trapped reverted on their own.
    await fleet.waitFor('every device back on 1.0.0', (s) => s.running['counter@1.0.0'] === DEVICES - 10 && s.inProgress === 0, 90_000);
    expect(await auditOf(server.api, r.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'rollout.new_capabilities_allowed', kind: 'operator' }),
        expect.objectContaining({ action: 'rollout.rolled_back', kind: 'engine', reason: 'FAILURE_THRESHOLD' }),
      ]),
    );
  }, 180_000);

  it('devices added or re-tagged mid-rollout join a wave and are updated', async () => {
    await publish('counter', '1.2.0');
    const r = await startRollout(server.api, server.keysDir, 'counter@1.2.0', SELECT, { waves: [{ percent: 50 }, { percent: 100 }], soakSeconds: 3, deadlineSeconds: 60 });
    // Mid-rollout: one spare device is re-tagged into the group, and a brand-new device appears.
    await waitRollout(server.api, r.id, 'first wave settled', (v) => (v.states.committed ?? 0) >= 100, 60_000);
    await server.api.put(`/v1/devices/${spare.ids[0]}/tags`, { tags: GROUP });
    const late = await Fleet.start({ server: server.server.httpUrl, token: server.server.operatorToken, devices: 1, seed: 'late', prefix: 'late', tags: GROUP, stateDir: join(server.dir, 'sim-late'), workers: 1, agent: agentTuning });
    try {
      const done = await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed', 120_000);
      const list = await members(server.api, r.id);
      for (const id of [spare.ids[0], late.ids[0]]) {
        const m = list.find((x) => x.deviceId === id);
        expect(m, id).toMatchObject({ state: 'committed' });
        expect(m!.wave).not.toBeNull();
      }
      expect(done.states.committed).toBe(DEVICES + 2);
      await late.waitFor('late device on 1.2.0', () => onRelease(late, 'counter@1.2.0') === 1, 30_000);
      await spare.waitFor('re-tagged device on 1.2.0', () => onRelease(spare, 'counter@1.2.0') === 1, 30_000);
      expect(onRelease(spare, 'counter@1.2.0')).toBe(1); // the other spare was never selected
    } finally {
      await late.stop();
      // Out of the group again: later rollouts in this file do not wait for a device that is gone.
      await server.api.put(`/v1/devices/${late.ids[0]}/tags`, { tags: { group: 'gone' } });
    }
  }, 180_000);

  it('a device that goes silent is marked DEVICE_TIMEOUT after its deadline and counts as a failure', async () => {
    await publish('counter', '1.3.0');
    const silent = fleet.ids[5];
    await fleet.agent(silent).stop();
    // 20 devices, so the 10 s deadline is about the silent one, not about a loaded machine.
    const r = await startRollout(server.api, server.keysDir, 'counter@1.3.0', { devices: fleet.ids.slice(0, 20) }, {
      waves: [{ percent: 100 }],
      soakSeconds: 0,
      deadlineSeconds: 10,
      maxFailuresPercent: 50,
      successPercent: 90,
    });
    const done = await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed', 90_000);
    expect(done.states.timed_out).toBe(1);
    expect(done.reasons['timed_out:DEVICE_TIMEOUT']).toBe(1);
    const m = (await members(server.api, r.id)).find((x) => x.deviceId === silent)!;
    expect(m).toMatchObject({ state: 'timed_out', reason: 'DEVICE_TIMEOUT' });
    expect((await auditOf(server.api, r.id)).filter((e) => e.action === 'device.timed_out').map((e) => e.detail.device)).toEqual([silent]);
    await fleet.restart(silent);
  }, 120_000);
});
