// "rollout create --rehearse" as an operator runs it: the real CLI against a real server with
// simulated devices of two host profiles; the rehearsal builds its own twin world in the CLI's
// process, predicts per wave, and asks before creating anything on the real server.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process; `tty` runs it under script(1), so its stdin is a terminal, and types `answer` at the prompt. */
function cli(args: string[], env: Record<string, string>, tty?: { answer: string }): Promise<Run> {
  return new Promise((resolve) => {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = tty
      ? spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (tty && !answered && stdout.includes('[y/N]')) {
        answered = true;
        child.stdin!.write(tty.answer + '\r');
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface DeviceView {
  id: string;
  state: string;
  sequence: number;
  running: Array<{ version: string }>;
}

describe('rollout create --rehearse', () => {
  let fleet: TestFleet;
  const sims: Fleet[] = [];
  let env: Record<string, string>;
  const rollouts = async () => (await fleet.api.get<{ rollouts: Array<{ id: string; kind: string; version: string }> }>('/v1/rollouts')).rollouts.filter((r) => r.kind === 'rollout');
  const devices = async () => (await fleet.api.get<{ devices: DeviceView[] }>('/v1/devices')).devices;
  const trapArgs = ['rollout', 'create', 'counter@1.1.0', '--target', 'site=r', '--waves', '25%,100%', '--soak', '10m', '--deadline', '30m',
    '--max-failures', '10%', '--min-sample', '2', '--on-failure', 'rollback', '--rehearse'];
  // --min-sample 2: the threshold waits for both devices of wave 1, so both report their own reason

  beforeAll(async () => {
    fleet = await startFleet({ rolloutTickMs: 100 });
    env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.publish('trap-init', 'counter', '1.1.0');
    await fleet.publish('counter', 'counter', '1.2.0');
    const base = { server: fleet.server.httpUrl, token: fleet.server.operatorToken, tags: { site: 'r' } };
    sims.push(await Fleet.start({ ...base, devices: 5, prefix: 'rv8', agent: { probation: { ticks: 2 } } }));
    sims.push(await Fleet.start({ ...base, devices: 3, prefix: 'rwamr', agent: { hostKind: 'wamr', memory: 262144, chunkSize: 1024, probation: { ticks: 2 } } }));
    const { deployment } = await fleet.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site: 'r' } });
    await waitFor('8 devices on 1.0.0', async () => (await devices()).filter((d) => d.state === 'committed' && d.running[0]?.version === '1.0.0').length === 8, 60_000);
    await waitFor('the deploy to complete', async () => (await fleet.api.get<{ state: string }>(`/v1/rollouts/${deployment}`)).state === 'completed', 30_000);
  });
  afterAll(async () => {
    for (const f of sims) await f.stop();
    await fleet?.close();
  });

  it('a release that traps in init: predicts the revert with MODULE_TRAP; declined, nothing is created', async () => {
    const before = await devices();

    // a script without --yes: the prediction, then a refusal with exit 2
    const script = await cli(trapArgs, env);
    expect(script.code, script.stderr).toBe(2);
    expect(script.stdout).toMatch(/rehearsal of counter@1\.1\.0: 8 simulated twin\(s\) of 8 target\(s\) in 2 profile\(s\)/);
    expect(script.stdout).toMatch(/soak 10m → 2s, deadline 30m → 20s/);
    expect(script.stdout).toMatch(/wave 1: 2 device\(s\): committed 0, reverted 2 \(MODULE_TRAP 2\), timeouts 0/);
    expect(script.stdout).toMatch(/wave 2: not reached/);
    expect(script.stdout).toMatch(/predicted outcome: rolled_back/);
    expect(script.stderr).toMatch(/rollout not created: stdin is not a terminal.*pass --yes/);

    // at a terminal, the operator answers no
    const declined = await cli(trapArgs, env, { answer: 'n' });
    expect(declined.code, declined.stdout).toBe(1);
    expect(declined.stdout).toMatch(/reverted 2 \(MODULE_TRAP 2\)/);
    expect(declined.stdout).toMatch(/create this rollout on http:\/\/127\.0\.0\.1:\d+\? \[y\/N\]/);
    expect(declined.stdout).toMatch(/not created/);

    // nothing on the real server: no rollout, no directive, every device where it was
    expect(await rollouts()).toEqual([]);
    const after = await devices();
    expect(after.map((d) => [d.id, d.sequence, d.running[0]?.version])).toEqual(before.map((d) => [d.id, d.sequence, d.running[0]?.version]));
  }, 180_000);

  it('a healthy release: predicts every wave committed, and --yes creates it on the real server', async () => {
    const r = await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'site=r', '--waves', '25%,100%', '--soak', '1m', '--deadline', '10m', '--rehearse', '--yes', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      prediction: { twins: number; outcome: { state: string }; waves: Array<{ devices: number; committed: number; timeouts: number; reverted: Record<string, number> }> };
      rollout: { id: string; state: string };
    };
    expect(out.prediction.twins).toBe(8);
    expect(out.prediction.outcome.state).toBe('completed');
    expect(out.prediction.waves.map((w) => [w.devices, w.committed, w.timeouts, w.reverted])).toEqual([[2, 2, 0, {}], [6, 6, 0, {}]]);
    expect(out.rollout.state).toBe('running');
    expect((await rollouts()).map((x) => x.id)).toEqual([out.rollout.id]);
    // and the real devices take it: the first wave commits 1.2.0
    await waitFor('wave 1 on the real fleet', async () => (await devices()).filter((d) => d.running[0]?.version === '1.2.0').length >= 2, 60_000);
  }, 180_000);
});
