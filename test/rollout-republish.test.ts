// What a device is owed is re-sent when it does not have it. An external mosquitto without
// persistence restarts after a rollout assigned devices that were offline: their retained
// directives are gone. When they come back, their hello shows they lack what they are owed and
// the server publishes it again, so every device ends on the release and `status` agrees.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { startRollout, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const DEVICES = 10;
let mosq: Mosquitto;
let server: TestFleet;
let fleet: Fleet;

beforeAll(async () => {
  mosq = await startMosquitto();
  server = await startFleet({ brokerUrl: mosq.serverUrl, rolloutTickMs: 100, owedCheckMs: 1000 });
  // Credentials first, into mosquitto's password file and the fleet's credential file.
  const ids = Array.from({ length: DEVICES }, (_, i) => `rp-${String(i + 1).padStart(4, '0')}`);
  const { devices } = await server.api.post<{ devices: Array<{ id: string; password: string; mqttUrl: string; rootPublicKey: string }> }>('/v1/devices/batch', {
    devices: ids.map((id) => ({ id, tags: { g: 'rp' } })),
  });
  for (const d of devices) mosq.addUser(d.id, d.password);
  const stateDir = join(server.dir, 'sim');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'fleet.json'), JSON.stringify({ server: server.server.httpUrl, devices }));
  await new Promise((r) => setTimeout(r, 300)); // mosquitto re-reads its password file on SIGHUP
  fleet = await Fleet.start({ server: server.server.httpUrl, token: server.server.operatorToken, devices: DEVICES, prefix: 'rp', seed: 'rp', stateDir, workers: 1, agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 } });
  await fleet.waitFor('online', (s) => s.online === DEVICES, 30_000);
  await waitFor('hellos', async () => (await server.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello), 30_000);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await server?.close();
  await mosq?.stop();
});

describe('re-publish what is owed (external mosquitto without persistence)', () => {
  it('devices offline during the rollout and the broker restart still get their directive', async () => {
    await server.publish('counter', 'counter', '1.0.0');
    const offline = fleet.ids.slice(0, 5);
    for (const id of offline) await fleet.agent(id).stop();
    const r = await startRollout(server.api, server.keysDir, 'counter@1.0.0', { tags: { g: 'rp' } }, { waves: [{ percent: 100 }], deadlineSeconds: 600 });
    await waitRollout(server.api, r.id, 'online devices committed', (v) => v.states.committed === DEVICES - offline.length && v.states.assigned === offline.length, 60_000);

    await mosq.restart(); // retained directives for the offline devices are gone
    for (const id of offline) await fleet.restart(id);

    const done = await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed', 60_000);
    expect(done.states).toEqual({ committed: DEVICES });
    await fleet.waitFor('every device on 1.0.0', (s) => s.running['counter@1.0.0'] === DEVICES && s.inProgress === 0, 30_000);
    const status = await server.api.get<{ releases: Record<string, number> }>('/v1/status');
    expect(status.releases).toEqual({ 'counter@1.0.0': DEVICES });
  }, 120_000);
});
