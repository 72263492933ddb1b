// A rollout survives SIGKILL of the server: the server runs as a child process
// (`node dist/cli/main.js server`), is killed with SIGKILL while the rollout is starting devices
// under its rate cap, and restarted on the same ports. The rollout carries on where the store
// left it: every device updated exactly once (one attempt, sequence 1), none forgotten, and the
// rate cap holds across the restart (measured from the stored assignment times).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { Fleet } from '../device-sim/fleet.js';
import { members, startRollout, waitRollout } from './helpers/rollouts.js';
import { EXAMPLES, tempDir, testStore, waitFor, type TestStore } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const DEVICES = 200;
const RATE = 600; // devices per minute: 10/s, so 200 devices take ~20 s and the kill lands mid-way

const dir = tempDir('wf-ro-kill-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
let proc: ChildProcess | null = null;
let fleet: Fleet | null = null;
let store: TestStore | null = null;

/** Start the server; resolves with its API and MQTT URLs, read from its start-up banner. */
async function startServerProcess(httpPort = 0, mqttPort = 0): Promise<{ http: string; mqtt: string }> {
  store ??= await testStore();
  const child = spawn(process.execPath, [CLI, 'server', '--data', data, '--keys', keys, ...store.args, '--http-port', String(httpPort), '--mqtt-port', String(mqttPort), '--no-ws'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, WASMFLEET_LOG: 'warn' },
  });
  proc = child;
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return waitFor(`server banner (${err})`, () => {
    const http = /api\s+(http:\/\/\S+)/.exec(err)?.[1];
    const mqtt = /mqtt\s+(mqtt:\/\/\S+)/.exec(err)?.[1];
    return http && mqtt ? { http, mqtt } : undefined;
  });
}

afterAll(async () => {
  await fleet?.stop();
  proc?.kill('SIGKILL');
  await store?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('rollout and server SIGKILL', () => {
  it('resumes after restart: no device lost, none updated twice, rate cap held', async () => {
    initKeys(keys);
    const first = await startServerProcess();
    const token = readFileSync(join(data, 'operator-token'), 'utf8').trim();
    const api = new ApiClient({ server: first.http, token });
    fleet = await Fleet.start({ server: first.http, token, devices: DEVICES, seed: 'kill', prefix: 'kill', tags: { g: 'k' }, stateDir: join(dir, 'sim'), workers: 2, agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 } });
    await fleet.waitFor('online', (s) => s.online === DEVICES, 60_000);
    await waitFor('hellos', async () => (await api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello), 30_000);
    await publishModuleFile(api, join(EXAMPLES, 'counter.wat'), { name: 'counter', version: '1.0.0', tickMs: 100, stack: 16384, keysDir: keys });
    const r = await startRollout(api, keys, 'counter@1.0.0', { tags: { g: 'k' } }, { waves: [{ percent: 100 }], ratePerMinute: RATE, deadlineSeconds: 120 });

    await waitRollout(api, r.id, '50 devices started', (v) => (v.states.assigned ?? 0) + (v.states.committed ?? 0) >= 50, 60_000);
    proc!.kill('SIGKILL');
    await new Promise((res) => proc!.once('exit', res));
    const killedAt = Date.now();
    const again = await startServerProcess(Number(new URL(first.http).port), Number(new URL(first.mqtt).port));
    const api2 = new ApiClient({ server: again.http, token });
    const before = await members(api2, r.id);
    const startedBeforeKill = before.filter((m) => m.assignedMs !== null && m.assignedMs < killedAt).length;
    expect(startedBeforeKill).toBeGreaterThanOrEqual(50);
    expect(startedBeforeKill).toBeLessThan(DEVICES); // the kill did land mid-rollout

    const done = await waitRollout(api2, r.id, 'completed', (v) => v.state === 'completed', 120_000);
    expect(done.states).toEqual({ committed: DEVICES });
    const list = await members(api2, r.id);
    // Exactly once: one attempt each, and each device's first and only directive is sequence 1.
    expect(list.every((m) => m.attempt === 1 && m.sequence === 1)).toBe(true);
    await fleet.waitFor('all committed at sequence 1', (s) => s.running['counter@1.0.0'] === DEVICES && s.inProgress === 0, 60_000);
    expect(fleet.statuses().every((d) => d.sequence === 1)).toBe(true);

    // Rate cap: in any 5 s window, at most RATE/12 devices started, plus the 1 s burst the cap allows.
    const times = list.map((m) => m.assignedMs!).sort((a, b) => a - b);
    let worst = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j] < times[i] + 5000) j++;
      worst = Math.max(worst, j - i);
    }
    const perMinute = ((times.length - 1) / (times[times.length - 1] - times[0])) * 60_000;
    console.log(`rate cap ${RATE}/min: busiest 5 s window ${worst} starts (limit ${RATE / 12 + RATE / 60}); overall ${perMinute.toFixed(0)}/min over ${times.length} devices`);
    expect(worst).toBeLessThanOrEqual(RATE / 12 + RATE / 60);
    expect(perMinute).toBeLessThanOrEqual(RATE * 1.1);
  }, 240_000);
});
