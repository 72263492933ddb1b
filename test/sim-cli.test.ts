// "wasmfleet sim" as a user runs it: the real CLI binary against the real server.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type TestFleet } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist/cli/main.js');
let server: TestFleet;

beforeAll(async () => {
  server = await startFleet();
});

afterAll(async () => {
  await server?.close();
});

describe('wasmfleet sim', () => {
  it('provisions and runs simulated devices, then prints a JSON summary and exits 0', async () => {
    const stateDir = join(server.dir, 'cli-sim');
    const args = ['sim', '--devices', '6', '--server', server.server.httpUrl, '--token', server.server.operatorToken, '--seed', 'cli', '--tag', 'site=lab', '--duration', '3', '--state-dir', stateDir, '--json'];
    const { stdout } = await run(process.execPath, [CLI, ...args]);
    const r = JSON.parse(stdout) as { ok: boolean; summary: { devices: number; online: number; states: Record<string, number> }; devices: Array<{ id: string }> };
    expect(r.ok).toBe(true);
    expect(r.summary).toMatchObject({ devices: 6, online: 6, states: { idle: 6 } });
    expect(r.devices.map((d) => d.id)).toContain('sim-cli-0001');
    // The server knows them, with their tags and their hello.
    const { devices } = await server.api.get<{ devices: Array<{ id: string; tags: Record<string, string> }> }>('/v1/devices');
    expect(devices.filter((d) => d.id.startsWith('sim-cli-') && d.tags.site === 'lab')).toHaveLength(6);
    // A second run on the same state dir reuses the credentials (no DEVICE_EXISTS).
    const again = await run(process.execPath, [CLI, ...args]);
    expect(JSON.parse(again.stdout).ok).toBe(true);
  }, 60_000);

  it('--engine: wasm3 by default (the addon is built by npm install), v8 on request; the hello and `devices list` show it', async () => {
    const base = ['sim', '--devices', '2', '--server', server.server.httpUrl, '--token', server.server.operatorToken, '--duration', '2', '--json'];
    const byDefault = JSON.parse((await run(process.execPath, [CLI, ...base, '--seed', 'eng-default', '--state-dir', join(server.dir, 'eng-default')])).stdout) as { ok: boolean; engine: string };
    expect(byDefault).toMatchObject({ ok: true, engine: 'wasm3' });
    const v8 = JSON.parse((await run(process.execPath, [CLI, ...base, '--engine', 'v8', '--seed', 'eng-v8', '--state-dir', join(server.dir, 'eng-v8')])).stdout) as { ok: boolean; engine: string };
    expect(v8).toMatchObject({ ok: true, engine: 'v8' });
    const { stdout } = await run(process.execPath, [CLI, 'devices', 'list', '--server', server.server.httpUrl, '--token', server.server.operatorToken]);
    const rows = stdout.split('\n');
    const header = rows[0].split(/\s{2,}/);
    const hostOf = (id: string) => rows.find((r) => r.startsWith(id))?.split(/\s{2,}/)[header.indexOf('HOST')];
    expect(header).toContain('HOST');
    expect(hostOf('sim-eng-default-0001')).toBe('wasm3');
    expect(hostOf('sim-eng-v8-0002')).toBe('v8');
  }, 60_000);

  it('refuses an unknown engine as a usage error (exit 2)', async () => {
    const err = await run(process.execPath, [CLI, 'sim', '--devices', '1', '--engine', 'spidermonkey']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toContain('--engine');
  }, 30_000);

  it('exits 3 with SERVER_UNAVAILABLE when the server cannot be reached', async () => {
    const err = await run(process.execPath, [CLI, 'sim', '--devices', '1', '--server', 'http://127.0.0.1:9', '--token', 't', '--duration', '1']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 3 });
    expect((err as { stderr: string }).stderr).toContain('SERVER_UNAVAILABLE');
  }, 30_000);

  it('refuses a fail rate outside [0, 1] as a usage error (exit 2)', async () => {
    const err = await run(process.execPath, [CLI, 'sim', '--devices', '1', '--fail-rate', '2']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toContain('--fail-rate');
  }, 30_000);
});

describe('wasmfleet sim --procs', () => {
  it('runs the devices in two processes, all of which commit a deploy, with one summary', async () => {
    const stateDir = join(server.dir, 'procs-sim');
    const args = ['sim', '--devices', '6', '--procs', '2', '--server', server.server.httpUrl, '--token', server.server.operatorToken, '--seed', 'procs', '--tag', 'fleet=procs', '--duration', '20', '--state-dir', stateDir, '--json'];
    const sim = run(process.execPath, [CLI, ...args]);
    // Deploy once the server sees all six online.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { devices } = await server.api.get<{ devices: Array<{ id: string; online: boolean }> }>('/v1/devices');
      if (devices.filter((d) => d.id.startsWith('sim-procs-') && d.online).length === 6) break;
      if (Date.now() > deadline) throw new Error('the simulated devices did not come online');
      await new Promise((r) => setTimeout(r, 200));
    }
    await server.publish('blink', 'blink', '1.0.0');
    await server.api.post('/v1/deployments', { module: 'blink', version: '1.0.0', tags: { fleet: 'procs' } });
    const r = JSON.parse((await sim).stdout) as {
      ok: boolean;
      summary: { devices: number; online: number; states: Record<string, number>; running: Record<string, number> };
      devices: Array<{ id: string; pid: number }>;
    };
    expect(r.ok).toBe(true);
    expect(r.summary).toMatchObject({ devices: 6, online: 6, states: { committed: 6 }, running: { 'blink@1.0.0': 6 } });
    expect(r.devices.map((d) => d.id).sort()).toEqual(['sim-procs-0001', 'sim-procs-0002', 'sim-procs-0003', 'sim-procs-0004', 'sim-procs-0005', 'sim-procs-0006']);
    // Two simulator processes, three devices each, none of them the CLI process itself.
    const byPid = new Map<number, number>();
    for (const d of r.devices) byPid.set(d.pid, (byPid.get(d.pid) ?? 0) + 1);
    expect([...byPid.values()]).toEqual([3, 3]);
  }, 60_000);

  /** Run `wasmfleet sim` for 3 devices with `flags`, deploy the counter to them; the device topics they published on. */
  async function simAndDeploy(seed: string, flags: string[]): Promise<{ seen: string[]; images: number }> {
    const seen: string[] = [];
    let images = 0;
    server.server.broker!.aedes.on('publish', (packet) => {
      if (packet.topic.startsWith(`wf/v1/dev/sim-${seed}-`)) seen.push(packet.topic.split('/').slice(4).join('/'));
      if (packet.topic.startsWith('wf/v1/img/')) images++;
    });
    const stateDir = join(server.dir, `${seed}-sim`);
    const args = ['sim', '--devices', '3', ...flags, '--server', server.server.httpUrl, '--token', server.server.operatorToken, '--seed', seed, '--tag', `fleet=${seed}`, '--duration', '15', '--state-dir', stateDir, '--json'];
    const sim = run(process.execPath, [CLI, ...args]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { devices } = await server.api.get<{ devices: Array<{ id: string; online: boolean }> }>('/v1/devices');
      if (devices.filter((d) => d.id.startsWith(`sim-${seed}-`) && d.online).length === 3) break;
      if (Date.now() > deadline) throw new Error('the simulated devices did not come online');
      await new Promise((r) => setTimeout(r, 200));
    }
    await server.publish('counter', seed, '1.0.0');
    await server.api.post('/v1/deployments', { module: seed, version: '1.0.0', tags: { fleet: seed } });
    const r = JSON.parse((await sim).stdout) as { ok: boolean; summary: { states: Record<string, number> } };
    expect(r.ok).toBe(true);
    expect(r.summary.states).toMatchObject({ committed: 3 });
    return { seen, images };
  }

  it('by default the devices pull every chunk (chunk/get) and ask for no stream', async () => {
    const { seen, images } = await simAndDeploy('pulls', []);
    expect(seen.filter((k) => k === 'chunk/get')).toHaveLength(3); // the 276-byte counter: one chunk each
    expect(seen).not.toContain('chunk/stream');
    expect(images).toBe(0);
  }, 60_000);

  it('--fanout: each device asks once for the image stream and the server publishes it on the image topic', async () => {
    const { seen, images } = await simAndDeploy('streams', ['--fanout']);
    expect(seen.filter((k) => k === 'chunk/stream')).toHaveLength(3);
    expect(images).toBeGreaterThan(0);
  }, 60_000);
});
