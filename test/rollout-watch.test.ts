// "wasmfleet rollout watch" as a user runs it: the real CLI as a child process against a real
// server, simulated devices taking the rollout, its output read as it comes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { startRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

interface Running {
  /** What it printed so far. */
  out: { stdout: string; stderr: string };
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Start the CLI (async: the server lives in this process); its output can be read while it runs. */
function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return { out, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, ...out }))) };
}

const cli = (args: string[], env: Record<string, string>) => start(args, env).done;

describe('rollout watch', () => {
  let fleet: TestFleet;
  const sims: Fleet[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    fleet = await startFleet({ rolloutTickMs: 100 });
    env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.publish('trap-init', 'counter', '1.1.0');
    for (const site of ['a', 'b']) {
      const f = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, devices: site === 'a' ? 6 : 3, prefix: `w${site}`, tags: { site }, agent: { probation: { ticks: 2 } } });
      sims.push(f);
      await f.waitFor('online', (s) => s.online === s.devices, 20_000);
    }
    // pre-flight needs the hellos on the server
    await waitFor('the hellos on the server', async () => (await fleet.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.filter((d) => d.hello).length === 9);
  });
  afterAll(async () => {
    for (const f of sims) await f.stop();
    await fleet?.close();
  });

  it('follows a healthy rollout wave by wave and exits 0 when it completes (JSON lines and text)', async () => {
    // wave 2 waits for "rollout approve": the test approves once both watches have shown wave 1 done
    const r = await startRollout(fleet.api, fleet.keysDir, 'counter@1.0.0', { tags: { site: 'a' } }, { waves: [{ count: 2 }, { percent: 100 }], soakSeconds: 1, deadlineSeconds: 60, approval: true });
    const jsonRun = start(['rollout', 'watch', r.id, '--json', '--interval', '150'], env);
    const textRun = start(['rollout', 'watch', r.id, '--interval', '150'], env);
    await waitFor('both watches to show wave 1 done, waiting for approval', () =>
      jsonRun.out.stdout.includes('"awaitingApproval":true') && textRun.out.stdout.includes('(wave 1/2, awaiting approval)'), 60_000);
    await fleet.api.post(`/v1/rollouts/${r.id}/approve`, {});
    const [json, text] = await Promise.all([jsonRun.done, textRun.done]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string; awaitingApproval: boolean; wave: number | null; waves: Array<{ planned: number; done: number; state: string }>; states: Record<string, number> });
    expect(lines.length).toBeGreaterThan(1);
    // one line per change: no two consecutive lines alike
    for (let i = 1; i < lines.length; i++) expect({ ...lines[i], at: 0 }).not.toEqual({ ...lines[i - 1], at: 0 });
    const last = lines.at(-1)!;
    expect(last.state).toBe('completed');
    expect(last.waves.map((w) => [w.planned, w.done])).toEqual([[2, 2], [4, 4]]);
    expect(last.states).toEqual({ committed: 6 });
    // the watch saw the waves in turn: wave 1 done and waiting while wave 2 had not started
    expect(lines.some((l) => l.waves[0].done === 2 && l.waves[1].done === 0 && l.awaitingApproval)).toBe(true);

    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`rollout ${r.id} counter@1.0.0: running (wave 1/2`);
    expect(text.stdout).toMatch(/wave 1 \[#{24}\] 2\/2 awaiting approval/);
    expect(text.stdout).toMatch(/wave 1 \[#{24}\] 2\/2 done/);
    expect(text.stdout).toMatch(/wave 2 \[#{24}\] 4\/4 done/);
    expect(text.stdout).toContain(`rollout ${r.id} counter@1.0.0: completed`);
    expect(text.stdout).toContain('devices: committed 6');
  }, 90_000);

  it('shows the devices\' reasons and exits 1 when the failure threshold pauses the rollout', async () => {
    const r = await startRollout(fleet.api, fleet.keysDir, 'counter@1.1.0', { tags: { site: 'b' } }, { waves: [{ count: 1 }, { percent: 100 }], soakSeconds: 1, deadlineSeconds: 60, maxFailuresPercent: 0, minSample: 1, onFailure: 'pause' });
    const out = await cli(['rollout', 'watch', r.id, '--interval', '150'], env);
    expect(out.code, out.stderr).toBe(1);
    expect(out.stdout).toMatch(new RegExp(`rollout ${r.id} counter@1.1.0: paused`));
    expect(out.stdout).toMatch(/reasons: failed:MODULE_TRAP 1/);
    expect(out.stdout).toMatch(/wave 1 \[#{24}\] 1\/1 paused, 1 failed/);
  }, 90_000);

  it('on a terminal: progress bars per wave (cli-progress), then the exit code', async () => {
    const done = (await fleet.api.get<{ rollouts: Array<{ id: string; state: string; kind: string }> }>('/v1/rollouts')).rollouts.find((x) => x.kind === 'rollout' && x.state === 'completed')!;
    // script(1) gives the CLI a pseudo-terminal, so stdout.isTTY holds as for a person
    const command = [process.execPath, CLI, 'rollout', 'watch', done.id].map((a) => `'${a}'`).join(' ');
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('exit', (code) => resolve({ code, stdout }));
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/wave 1 \|█+\| 2\/2 done/);
    expect(out.stdout).toMatch(/wave 2 \|█+\| 4\/4 done/);
    expect(out.stdout).toContain(`${done.id} counter@1.0.0 completed`);
  });

  it('an unknown rollout is refused with exit 1 and the server\'s code', async () => {
    const out = await cli(['rollout', 'watch', 'ro-nope', '--json'], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/ROLLOUT_NOT_FOUND/);
  });
});
