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
