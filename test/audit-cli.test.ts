// "wasmfleet audit" as a user runs it: the real CLI against a real server whose rollout engine
// has written operator and engine entries.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { startRollout, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

async function cli(args: string[], env: Record<string, string>) {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Entry {
  id: number;
  at: number;
  action: string;
  kind: string;
  rollout: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
}

describe('wasmfleet audit', () => {
  let fleet: TestFleet;
  let sims: Fleet;
  let env: Record<string, string>;
  let rolloutId: string;

  beforeAll(async () => {
    fleet = await startFleet({ rolloutTickMs: 100 });
    env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken };
    await fleet.publish('counter', 'counter', '1.0.0');
    sims = await Fleet.start({ server: fleet.server.httpUrl, token: fleet.server.operatorToken, devices: 2, prefix: 'aud', tags: { site: 'x' }, agent: { probation: { ticks: 2 } } });
    await sims.waitFor('online', (s) => s.online === 2, 20_000);
    // pre-flight needs the hellos on the server
    await waitFor('the hellos on the server', async () => (await fleet.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.filter((d) => d.hello).length === 2);
    const r = await startRollout(fleet.api, fleet.keysDir, 'counter@1.0.0', { tags: { site: 'x' } }, { waves: [{ percent: 100 }], deadlineSeconds: 60 });
    rolloutId = r.id;
    await waitRollout(fleet.api, r.id, 'completed', (v) => v.state === 'completed', 60_000);
  });
  afterAll(async () => {
    await sims?.stop();
    await fleet?.close();
  });

  it('--rollout: that rollout\'s story, operator and engine decisions, in order', async () => {
    const out = await cli(['audit', '--rollout', rolloutId, '--json'], env);
    expect(out.code, out.stderr).toBe(0);
    const entries = JSON.parse(out.stdout) as Entry[];
    expect(entries.every((e) => e.rollout === rolloutId)).toBe(true);
    expect(entries[0]).toMatchObject({ action: 'rollout.created', kind: 'operator' });
    expect(entries.some((e) => e.kind === 'engine')).toBe(true);
    expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((a, b) => a - b));

    const table = await cli(['audit', '--rollout', rolloutId], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^AT\s+BY\s+ACTION\s+ROLLOUT\s+REASON\s+DETAIL$/);
    expect(lines[1]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+operator\\s+rollout.created\\s+${rolloutId}\\s+CREATED\\s+targets=2`));
    expect(lines).toHaveLength(entries.length + 1);
  });

  it('--since takes durations and ISO times; without --rollout every action is there', async () => {
    const recent = JSON.parse((await cli(['audit', '--since', '10m', '--json'], env)).stdout) as Entry[];
    expect(recent.map((e) => e.action)).toEqual(expect.arrayContaining(['module.publish', 'rollout.created']));
    const past = JSON.parse((await cli(['audit', '--since', '2020-01-01T00:00:00Z', '--json'], env)).stdout) as Entry[];
    expect(past).toHaveLength(recent.length);
    const future = await cli(['audit', '--since', '2099-01-01', '--json'], env);
    expect(JSON.parse(future.stdout)).toEqual([]);
    expect((await cli(['audit', '--since', '2099-01-01'], env)).stdout).toBe('(none)\n');
  });

  it('a --since it cannot read is a usage error (exit 2), before any request', async () => {
    const out = await cli(['audit', '--since', 'yesterday', '--server', 'http://127.0.0.1:9'], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--since: expected a duration/);
  });
});
