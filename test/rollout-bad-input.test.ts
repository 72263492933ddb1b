// Rollouts: bad input and operator actions against the real server and 6 simulated devices.
// Every refusal is an HTTP 4xx with a stable code and a message naming the part that failed
// (and the CLI's exit 1 or 2); nothing is stored (no rollout, no audit entry) and nothing is
// sent (no device gets a new directive).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from '../device-sim/fleet.js';
import { fromHex } from '../protocol/crypto.js';
import { readKeyPair } from '../protocol/keyfiles.js';
import { signRollback } from '../protocol/payloads/rollback.js';
import type { Policy, Selector } from '../server/rollouts/model.js';
import type { RolloutPlan } from '../server/rollouts/plan.js';
import { auditOf, members, startRollout, waitRollout } from './helpers/rollouts.js';
import { startFleet, waitFor, type TestFleet } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const DEVICES = 6;
const SEL: Selector = { tags: { g: 'bad' } };
let server: TestFleet;
let fleet: Fleet;

beforeAll(async () => {
  server = await startFleet({ rolloutTickMs: 100 });
  fleet = await Fleet.start({
    server: server.server.httpUrl,
    token: server.server.operatorToken,
    devices: DEVICES,
    seed: 'bad',
    prefix: 'bad',
    tags: SEL.tags,
    stateDir: join(server.dir, 'sim'),
    workers: 1,
    agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 },
  });
  await fleet.waitFor('online', (s) => s.online === DEVICES, 30_000);
  await waitFor('hellos', async () => (await server.api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello), 30_000);
  await server.publish('counter', 'counter', '1.0.0');
  await server.publish('counter', 'counter', '1.1.0');
  const r = await startRollout(server.api, server.keysDir, 'counter@1.0.0', SEL, { waves: [{ percent: 100 }] });
  await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed', 60_000);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await server?.close();
});

async function cli(args: string[]) {
  try {
    const r = await run(process.execPath, [CLI, ...args, '--server', server.server.httpUrl, '--token', server.server.operatorToken, '--keys', server.keysDir]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** POST raw JSON and return status + body, for the exact HTTP answer. */
async function post(path: string, body: unknown): Promise<{ status: number; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const res = await fetch(new URL(path, server.server.httpUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.server.operatorToken}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** What a refusal must leave untouched: rollouts, audit log, and every device's directives. */
async function snapshot() {
  const rollouts = (await server.api.get<{ rollouts: unknown[] }>('/v1/rollouts')).rollouts.length;
  const audit = (await server.api.get<{ entries: unknown[] }>('/v1/audit')).entries.length;
  const devices = (await server.api.get<{ devices: Array<{ id: string; targetSequence: number | null; sequence: number }> }>('/v1/devices')).devices.map((d) => [d.id, d.sequence, d.targetSequence]);
  return { rollouts, audit, devices };
}

const auth = (digest: string, o: { expires?: number; key?: 'release' | 'director' } = {}) => {
  const now = Math.floor(Date.now() / 1000);
  return Buffer.from(
    signRollback({ component: 'counter', target: fromHex(digest), issuedAt: now, expires: o.expires ?? now + 7200 }, readKeyPair(server.keysDir, o.key ?? 'release')),
  ).toString('base64');
};

async function createBody(policy: Partial<Policy> & Pick<Policy, 'waves'>, extra: Record<string, unknown> = {}) {
  const plan = (await post('/v1/rollouts/plan', { module: 'counter', version: '1.1.0', selector: SEL })).body as unknown as RolloutPlan;
  return { module: 'counter', version: '1.1.0', selector: SEL, policy, authorizations: plan.releases.map((r) => auth(r.manifestDigest)), expires: Math.floor(Date.now() / 1000) + 3600, ...extra };
}

describe('rollout create refuses bad input; nothing stored, nothing sent', () => {
  const cases: Array<[string, () => Promise<Record<string, unknown>>, number, string, RegExp]> = [
    ['unknown module', async () => ({ ...(await createBody({ waves: [{ percent: 100 }] })), module: 'nope' }), 404, 'MODULE_NOT_FOUND', /nope@1\.1\.0/],
    ['unknown version', async () => ({ ...(await createBody({ waves: [{ percent: 100 }] })), version: '9.9.9' }), 404, 'MODULE_NOT_FOUND', /counter@9\.9\.9/],
    ['selector matching nothing', async () => ({ ...(await createBody({ waves: [{ percent: 100 }] })), selector: { tags: { g: 'nobody' } } }), 400, 'DEPLOY_NO_TARGETS', /nobody/],
    ['a wave above 100%', () => createBody({ waves: [{ percent: 150 }, { percent: 100 }] }), 400, 'ROLLOUT_POLICY_INVALID', /waves\[0\]: 150%/],
    ['a wave of 0%', () => createBody({ waves: [{ percent: 0 }, { percent: 100 }] }), 400, 'ROLLOUT_POLICY_INVALID', /waves\[0\]: 0%/],
    ['waves not ending at 100%', () => createBody({ waves: [{ percent: 10 }, { percent: 50 }] }), 400, 'ROLLOUT_POLICY_INVALID', /last wave must be 100%/],
    ['waves shrinking', () => createBody({ waves: [{ percent: 50 }, { percent: 20 }, { percent: 100 }] }), 400, 'ROLLOUT_POLICY_INVALID', /waves\[1\]: 20% must be larger/],
    ['failure threshold above 100%', () => createBody({ waves: [{ percent: 100 }], maxFailuresPercent: 120 }), 400, 'ROLLOUT_POLICY_INVALID', /maxFailuresPercent: 120%/],
    ['success threshold below 0%', () => createBody({ waves: [{ percent: 100 }], successPercent: -1 }), 400, 'ROLLOUT_POLICY_INVALID', /successPercent: -1%/],
    ['minimum sample of 0', () => createBody({ waves: [{ percent: 100 }], minSample: 0 }), 400, 'ROLLOUT_POLICY_INVALID', /minSample/],
    ['deadline shorter than the soak', () => createBody({ waves: [{ percent: 100 }], soakSeconds: 600, deadlineSeconds: 60 }), 400, 'ROLLOUT_POLICY_INVALID', /deadline \(60 s\) is shorter than the soak \(600 s\)/],
    ['no rollback authorization for what the targets run', async () => ({ ...(await createBody({ waves: [{ percent: 100 }] })), authorizations: [] }), 400, 'ROLLBACK_NOT_COVERED', /counter@1\.0\.0 \(run by 6/],
    [
      'a forged rollback authorization (signed by the director key)',
      async () => {
        const b = await createBody({ waves: [{ percent: 100 }] });
        const plan = (await post('/v1/rollouts/plan', { module: 'counter', version: '1.1.0', selector: SEL })).body as unknown as RolloutPlan;
        return { ...b, authorizations: [auth(plan.releases[0].manifestDigest, { key: 'director' })] };
      },
      400,
      'ROLLBACK_INVALID',
      /authorizations\[0\]/,
    ],
    [
      'an expired rollback authorization',
      async () => {
        const b = await createBody({ waves: [{ percent: 100 }] });
        const plan = (await post('/v1/rollouts/plan', { module: 'counter', version: '1.1.0', selector: SEL })).body as unknown as RolloutPlan;
        return { ...b, authorizations: [auth(plan.releases[0].manifestDigest, { expires: Math.floor(Date.now() / 1000) - 10 })] };
      },
      400,
      'ROLLBACK_INVALID',
      /expired/,
    ],
    [
      'an authorization that ends before the rollout',
      async () => {
        const b = await createBody({ waves: [{ percent: 100 }] });
        const plan = (await post('/v1/rollouts/plan', { module: 'counter', version: '1.1.0', selector: SEL })).body as unknown as RolloutPlan;
        return { ...b, authorizations: [auth(plan.releases[0].manifestDigest, { expires: Math.floor(Date.now() / 1000) + 60 })] };
      },
      400,
      'ROLLBACK_INVALID',
      /before the rollout/,
    ],
  ];
  for (const [name, body, status, code, message] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const b = await body();
      const before = await snapshot();
      const r = await post('/v1/rollouts', b);
      expect(r.status).toBe(status);
      expect(r.body.error?.code).toBe(code);
      expect(r.body.error?.message).toMatch(message);
      expect(await snapshot()).toEqual(before);
    });
  }
});

describe('one active rollout per device; operator actions', () => {
  let first: string;

  it('a second rollout (or a deploy) on devices in an active rollout → 409 ROLLOUT_CONFLICT naming it', async () => {
    // Wave 1 is one device; then it waits for approval, so the rollout stays active.
    const r = await startRollout(server.api, server.keysDir, 'counter@1.1.0', SEL, { waves: [{ count: 1 }, { percent: 100 }], approval: true });
    first = r.id;
    await waitRollout(server.api, first, 'waiting for approval', (v) => v.awaitingApproval && v.reason === 'WAITING_APPROVAL');
    const before = await snapshot();
    const again = await post('/v1/rollouts', await createBody({ waves: [{ percent: 100 }] }));
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'ROLLOUT_CONFLICT', message: expect.stringContaining(first) });
    const deploy = await post('/v1/deployments', { module: 'counter', version: '1.0.0', tags: SEL.tags });
    expect(deploy.status).toBe(409);
    expect(deploy.body.error?.code).toBe('ROLLOUT_CONFLICT');
    expect(await snapshot()).toEqual(before);
  });

  it('pause, resume, approve; approve again is refused with ROLLOUT_STATE', async () => {
    expect((await cli(['rollout', 'pause', first])).code).toBe(0);
    expect((await server.api.get<{ state: string }>(`/v1/rollouts/${first}`)).state).toBe('paused');
    const resumed = await cli(['rollout', 'resume', first, '--json']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ state: 'running' });
    const approved = await cli(['rollout', 'approve', first]);
    expect(approved.code).toBe(0);
    await waitRollout(server.api, first, 'completed', (v) => v.state === 'completed');
    const twice = await cli(['rollout', 'approve', first]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/ROLLOUT_STATE: .*completed/);
    const actions = (await auditOf(server.api, first)).filter((e) => e.kind === 'operator').map((e) => e.action);
    expect(actions).toEqual(['rollout.created', 'rollout.paused', 'rollout.resumed', 'wave.advanced']);
    await fleet.waitFor('all on 1.1.0', (s) => s.running['counter@1.1.0'] === DEVICES && s.inProgress === 0, 30_000);
  });

  it('pause of a finished rollout → 409 ROLLOUT_STATE (CLI exit 1), nothing changes', async () => {
    const before = await snapshot();
    const r = await post(`/v1/rollouts/${first}/pause`, {});
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'ROLLOUT_STATE', message: expect.stringContaining('completed') });
    const c = await cli(['rollout', 'pause', first]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/error ROLLOUT_STATE/);
    expect(await snapshot()).toEqual(before);
    expect((await post('/v1/rollouts/ro-nope/pause', {})).body.error?.code).toBe('ROLLOUT_NOT_FOUND');
  });

  it('rollout rollback mid-rollout sends the devices it updated back to the release they ran', async () => {
    await server.publish('counter', 'counter', '1.2.0');
    const r = await startRollout(server.api, server.keysDir, 'counter@1.2.0', SEL, { waves: [{ count: 2 }, { percent: 100 }], approval: true });
    await waitRollout(server.api, r.id, 'waiting for approval', (v) => v.awaitingApproval);
    await fleet.waitFor('two devices on 1.2.0', (s) => s.running['counter@1.2.0'] === 2 && s.inProgress === 0, 30_000);
    const c = await cli(['rollout', 'rollback', r.id]);
    expect(c.code).toBe(0);
    const done = await waitRollout(server.api, r.id, 'rolled back', (v) => v.state === 'rolled_back' && !v.states.reverting);
    expect(done).toMatchObject({ reason: 'OPERATOR', states: { rolled_back: 2, excluded: DEVICES - 2 } });
    await fleet.waitFor('all on 1.1.0', (s) => s.running['counter@1.1.0'] === DEVICES && s.inProgress === 0, 30_000);
    expect((await members(server.api, r.id)).filter((m) => m.state === 'excluded').every((m) => m.reason === 'ROLLOUT_ROLLED_BACK')).toBe(true);
  });

  it('the audit log has no route that changes it', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'POST']) {
      const res = await fetch(new URL('/v1/audit', server.server.httpUrl), { method, headers: { authorization: `Bearer ${server.server.operatorToken}` } });
      expect(res.status, method).toBe(404);
    }
  });
});

describe('rollout create through the CLI', () => {
  it('wrong flags exit 2 before any request; refused policies exit 1 with the code', async () => {
    const bad = await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=bad', '--waves', '10%,lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/wave "lots"/);
    expect((await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=bad', '--on-failure', 'explode'])).code).toBe(2);
    expect((await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=bad', '--rate', 'fast'])).code).toBe(2);
    const refused = await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=bad', '--waves', '10%,50%']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ROLLOUT_POLICY_INVALID: .*last wave must be 100%/);
    const none = await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=nobody']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/DEPLOY_NO_TARGETS/);
  });

  it('create → show → list with --json', async () => {
    const c = await cli(['rollout', 'create', 'counter@1.2.0', '--target', 'g=bad,@capability=sensor', '--waves', '50%,100%', '--soak', '1s', '--max-failures', '10%', '--min-sample', '2', '--on-failure', 'rollback', '--deadline', '1m', '--retries', '1', '--rate', '600/min', '--json']);
    expect(c.code).toBe(0);
    const created = JSON.parse(c.stdout) as { plan: RolloutPlan; rollout: { id: string } };
    expect(created.plan).toMatchObject({ targets: DEVICES, eligible: DEVICES, releases: [{ component: 'counter', version: '1.1.0', devices: DEVICES }] });
    const shown = JSON.parse((await cli(['rollout', 'show', created.rollout.id, '--json'])).stdout);
    expect(shown.policy).toMatchObject({ waves: [{ percent: 50 }, { percent: 100 }], soakSeconds: 1, maxFailuresPercent: 10, successPercent: 90, minSample: 2, onFailure: 'rollback', deadlineSeconds: 60, retries: 1, ratePerMinute: 600 });
    await waitRollout(server.api, created.rollout.id, 'completed', (v) => v.state === 'completed');
    const list = JSON.parse((await cli(['rollout', 'list', '--json'])).stdout) as Array<{ id: string; state: string }>;
    expect(list[0]).toMatchObject({ id: created.rollout.id, state: 'completed' });
    const human = await cli(['rollout', 'show', created.rollout.id]);
    expect(human.stdout).toMatch(/completed \(ALL_WAVES_DONE\)/);
  });
});

describe('deploy is a one-wave rollout', () => {
  it('tracked per device to completion; a later deploy supersedes a live one', async () => {
    await server.publish('counter', 'counter', '1.3.0');
    const d = await server.api.post<{ deployment: string; devices: Array<{ id: string; sequence: number }> }>('/v1/deployments', { module: 'counter', version: '1.3.0', tags: SEL.tags });
    expect(d.devices).toHaveLength(DEVICES);
    const done = await waitRollout(server.api, d.deployment, 'deploy completed', (v) => v.state === 'completed');
    expect(done).toMatchObject({ kind: 'deploy', states: { committed: DEVICES } });
    expect(done.waves).toHaveLength(1);

    // One device offline: the next deploy stays live for it, until a newer deploy replaces it.
    const offline = fleet.ids[0];
    await fleet.agent(offline).stop();
    await server.publish('counter', 'counter', '1.4.0');
    await server.publish('counter', 'counter', '1.5.0');
    const a = await server.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.4.0', devices: [offline] });
    expect((await server.api.get<{ state: string }>(`/v1/rollouts/${a.deployment}`)).state).toBe('running');
    const b = await server.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.5.0', devices: [offline] });
    const first = await waitRollout(server.api, a.deployment, 'superseded deploy completed', (v) => v.state === 'completed');
    expect(first.reasons).toEqual({ 'excluded:SUPERSEDED': 1 });
    await fleet.restart(offline);
    await waitRollout(server.api, b.deployment, 'second deploy completed', (v) => v.state === 'completed' && v.states.committed === 1);
    await fleet.waitFor('offline device on 1.5.0', (s, f) => f.statuses().find((x) => x.id === offline)!.running[0]?.version === '1.5.0', 30_000);
  });
});

describe('a late joiner on a release no authorization covers', () => {
  it('waits as pending ROLLBACK_NOT_COVERED through a wave, and is updated once an authorization arrives', async () => {
    const extra = await Fleet.start({ server: server.server.httpUrl, token: server.server.operatorToken, devices: 1, seed: 'x', prefix: 'xtra', tags: { g: 'other' }, stateDir: join(server.dir, 'sim-x'), workers: 1, agent: { probation: { ticks: 2 }, callBudgetMs: 2000, chunkTimeoutMs: 2000 } });
    try {
      const x = extra.ids[0];
      await extra.waitFor('online', (s) => s.online === 1, 30_000);
      const d = await server.api.post<{ deployment: string }>('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [x] });
      await waitRollout(server.api, d.deployment, 'deploy to x completed', (v) => v.state === 'completed');
      await server.publish('counter', 'counter', '1.6.0');
      const r = await startRollout(server.api, server.keysDir, 'counter@1.6.0', SEL, { waves: [{ count: 1 }, { percent: 50 }, { percent: 100 }], approval: true });
      await waitRollout(server.api, r.id, 'wave 1 waiting for approval', (v) => v.awaitingApproval);
      await server.api.put(`/v1/devices/${x}/tags`, { tags: SEL.tags! });
      await waitRollout(server.api, r.id, 'x joined', (v) => v.reasons['pending:ROLLBACK_NOT_COVERED'] === 1);
      await server.api.post(`/v1/rollouts/${r.id}/approve`, {});
      await waitRollout(server.api, r.id, 'wave 2 waiting for approval', (v) => v.wave === 1 && v.awaitingApproval);
      // A whole wave went by: x was not sent anything, and the rollout says why.
      expect((await members(server.api, r.id)).find((m) => m.deviceId === x)).toMatchObject({ state: 'pending', reason: 'ROLLBACK_NOT_COVERED', sequence: null });
      const authorized = await cli(['rollout', 'authorize', r.id, 'counter@1.0.0', '--json']);
      expect(authorized.code).toBe(0);
      expect(JSON.parse(authorized.stdout).reasons).toEqual({});
      await server.api.post(`/v1/rollouts/${r.id}/approve`, {});
      const done = await waitRollout(server.api, r.id, 'completed', (v) => v.state === 'completed');
      expect((await members(server.api, r.id)).find((m) => m.deviceId === x)).toMatchObject({ state: 'committed', wave: 2, fromVersion: '1.0.0' });
      expect(done.states.committed).toBe(DEVICES + 1);
      await extra.waitFor('x on 1.6.0', (s) => s.running['counter@1.6.0'] === 1, 30_000);
      expect((await auditOf(server.api, r.id)).map((e) => e.action)).toContain('rollout.authorized');
    } finally {
      await extra.stop();
    }
  }, 120_000);
});
