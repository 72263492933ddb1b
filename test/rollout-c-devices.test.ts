// One rollout reaches real C devices (firmware-host/build/wasmfleet-device on WAMR) alongside
// simulated ones: the same waves, the same gates, every member committed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { buildCDevice, CDevice } from './helpers/c-device.js';
import { members, startRollout, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const build = buildCDevice();

interface DeviceView {
  id: string;
  online: boolean;
  state: string;
  hello: { host: string } | null;
  running: Array<{ version: string }>;
}

describe('a rollout over C and simulated devices', () => {
  let fleet: TestFleet;
  let sims: Fleet | undefined;
  const cdevs: CDevice[] = [];

  beforeAll(async () => {
    if (!build.ok) throw new Error(`firmware-host/build/wasmfleet-device was not built: ${build.message.trim()}`);
    fleet = await startFleet({ rolloutTickMs: 100 });
  });
  afterAll(async () => {
    for (const d of cdevs) await d.stop();
    await sims?.stop();
    await fleet?.close();
  });

  it('updates 2 C devices and 6 simulated devices wave by wave, all committed', async () => {
    for (const id of ['c-ro-1', 'c-ro-2']) {
      const dev = new CDevice(await fleet.addDevice(id, { site: 'mixed' }));
      cdevs.push(dev);
      dev.start();
    }
    sims = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, devices: 6, prefix: 'sim-ro', tags: { site: 'mixed' }, agent: { probation: { ticks: 2 } } });
    const all = ['c-ro-1', 'c-ro-2', ...sims.ids];
    const view = (id: string) => fleet.api.get<DeviceView>(`/v1/devices/${id}`);
    for (const id of all) await waitFor(`${id} hello`, async () => (await view(id)).hello !== null && (await view(id)).online);
    expect((await view('c-ro-1')).hello?.host).toBe('wamr');

    // a release every device runs first, so the rollout is an update with a rollback path
    await fleet.publish('counter', 'counter', '1.0.0');
    const { deployment } = await fleet.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site: 'mixed' } });
    for (const id of all) await waitFor(`${id} on 1.0.0`, async () => { const d = await view(id); return d.state === 'committed' && d.running[0]?.version === '1.0.0'; }, 60_000);

    // a deploy holds its devices until it completes
    await waitRollout(fleet.api, deployment, 'the deploy to complete', (r) => r.state === 'completed', 60_000);
    await fleet.publish('counter', 'counter', '1.1.0');
    const created = await startRollout(fleet.api, fleet.keysDir, 'counter@1.1.0', { tags: { site: 'mixed' } }, { waves: [{ count: 2 }, { percent: 100 }], soakSeconds: 1, deadlineSeconds: 60, maxFailuresPercent: 0, minSample: 1, onFailure: 'pause' });
    const done = await waitRollout(fleet.api, created.id, 'the rollout to end', (r) => ['completed', 'paused', 'rolled_back', 'aborted'].includes(r.state), 120_000);
    const ms = await members(fleet.api, created.id);
    expect(done.state, JSON.stringify(ms)).toBe('completed');
    expect(ms).toHaveLength(8);
    expect(ms.every((m) => m.state === 'committed')).toBe(true);
    expect(ms.filter((m) => m.wave === 0)).toHaveLength(2);
    expect(ms.filter((m) => m.wave === 1)).toHaveLength(6);
    for (const id of all) {
      const d = await view(id);
      expect(d.running[0]?.version, id).toBe('1.1.0');
    }
    for (const d of cdevs) expect(d.alive()).toBe(true);
  }, 240_000);
});
