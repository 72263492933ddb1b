// The real CLI binary (dist/cli/main.js) against a real server: exit codes, messages, key files,
// and the operator loop publish → deploy → rollback with release-signed rollback authorizations.
import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBundle, deviceTopic, encodeReport, fromHex, readKeyDocumentFile, readPublicKey, openKeyDocument } from '../protocol/index.js';
import { connectAs, EXAMPLES, nextMessage, startFleet, tempDir, testStore, waitFor, type TestFleet, deviceContext } from './helpers/server.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

async function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('wasmfleet keys', () => {
  it('init writes 0600 secret keys and a root-signed key document, and refuses to overwrite', async () => {
    const dir = join(tempDir(), 'keys');
    const first = await cli(['keys', 'init', '--dir', dir, '--json']);
    expect(first.code).toBe(0);
    for (const name of ['root', 'release', 'director']) expect(statSync(join(dir, `${name}.key`)).mode & 0o777).toBe(0o600);
    const doc = openKeyDocument(readKeyDocumentFile(dir), { rootPublicKey: readPublicKey(dir, 'root'), now: Math.floor(Date.now() / 1000) });
    expect(doc.keys.map((k) => k.role).sort()).toEqual(['director', 'release']);
    const again = await cli(['keys', 'init', '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/KEYS_EXIST.*refusing to overwrite/);
  });

  it('rotate writes a new key document with a higher serial; old release key stays valid', async () => {
    const dir = join(tempDir(), 'keys');
    await cli(['keys', 'init', '--dir', dir]);
    const r = await cli(['keys', 'rotate', 'release', '--dir', dir, '--json']);
    expect(r.code).toBe(0);
    const doc = openKeyDocument(readKeyDocumentFile(dir), { rootPublicKey: readPublicKey(dir, 'root'), now: Math.floor(Date.now() / 1000) });
    expect(doc.serial).toBe(2);
    expect(doc.keys.filter((k) => k.role === 'release')).toHaveLength(2);
    const bad = await cli(['keys', 'rotate', 'root-of-all-evil', '--dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/role must be one of release, director/);
  });
});

describe('wasmfleet against a running server', () => {
  let fleet: TestFleet;
  let env: Record<string, string>;
  beforeAll(async () => {
    fleet = await startFleet();
    env = { WASMFLEET_SERVER: fleet.server.httpUrl, WASMFLEET_TOKEN: fleet.server.operatorToken, WASMFLEET_KEYS: fleet.keysDir };
  });
  afterAll(async () => fleet?.close());

  it('module inspect shows imports, capabilities and the ABI verdict', async () => {
    const ok = await cli(['module', 'inspect', join(EXAMPLES, 'blink.wat'), '--json']);
    expect(ok.code).toBe(0);
    const info = JSON.parse(ok.stdout) as { capabilities: string[]; abi: { ok: boolean } };
    expect(info.capabilities).toEqual(['gpio', 'log']);
    expect(info.abi.ok).toBe(true);
    const bad = await cli(['module', 'inspect', join(EXAMPLES, 'unknown-import.wat')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/REFUSED ABI_UNKNOWN_IMPORT/);
  });

  it('publish, deploy and list with exit codes a script can rely on', async () => {
    const pub = await cli(['module', 'publish', join(EXAMPLES, 'counter.wat'), '--name', 'counter', '--version', '1.0.0'], env);
    expect(pub.stdout).toMatch(/published counter@1.0.0/);
    expect(pub.code).toBe(0);
    const refused = await cli(['module', 'publish', join(EXAMPLES, 'unknown-import.wat'), '--name', 'evil', '--version', '1.0.0'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/ABI_UNKNOWN_IMPORT.*launch_missiles/);
    const add = await cli(['devices', 'add', 'cli-dev-1', '--tag', 'site=lab', '--json'], env);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ id: 'cli-dev-1', username: 'cli-dev-1' });
    const dep = await cli(['deploy', 'counter@1.0.0', '--tag', 'site=lab'], env);
    expect(dep.stdout).toMatch(/to 1 device\(s\)/);
    const list = await cli(['devices', 'list', '--json'], env);
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((d) => d.id)).toContain('cli-dev-1');
    const unknown = await cli(['deploy', 'counter@1.0.0', '--device', 'ghost'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/DEVICE_NOT_FOUND.*ghost/);
  });

  it('wrong flags exit 2, a wrong token exits 1, an unreachable server exits 3', async () => {
    expect((await cli(['deploy', 'counter'], env)).code).toBe(2);
    const noFlag = await cli(['deploy', 'counter@1.0.0'], env);
    expect(noFlag.code).toBe(2);
    expect(noFlag.stderr).toMatch(/needs --device/);
    expect((await cli(['module', 'publish', 'x.wat', '--tick-ms', 'soon', '--name', 'a', '--version', '1.0.0'], env)).code).toBe(2);
    const token = await cli(['status'], { ...env, WASMFLEET_TOKEN: 'nope' });
    expect(token.code).toBe(1);
    expect(token.stderr).toMatch(/AUTH_REQUIRED/);
    const down = await cli(['status', '--server', 'http://127.0.0.1:9'], env);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/SERVER_UNAVAILABLE/);
  });

  it('rollback goes back to the previous committed version with a release-signed authorization', async () => {
    await fleet.publish('counter', 'counter', '1.0.0');
    await fleet.publish('counter', 'counter', '2.0.0');
    const creds = await fleet.addDevice('rb-dev-1');
    const device = await connectAs(creds);
    const m1 = await fleet.api.get<{ manifestDigest: string }>('/v1/modules/counter/1.0.0');
    const m2 = await fleet.api.get<{ manifestDigest: string }>('/v1/modules/counter/2.0.0');
    // The device commits 1.0.0 then 2.0.0 (reports as an agent would send them).
    const report = (sequence: number, version: string, digest: string) =>
      device.publishAsync(
        deviceTopic(creds.id, 'report'),
        Buffer.from(encodeReport({ state: 'committed', sequence, running: [{ component: 'counter', version, manifestDigest: fromHex(digest) }], time: Math.floor(Date.now() / 1000) })),
        { qos: 1, retain: true },
      );
    await report(1, '1.0.0', m1.manifestDigest);
    await report(2, '2.0.0', m2.manifestDigest);
    await waitFor('2.0.0 committed', async () => (await fleet.api.get<{ running: Array<{ version: string }> }>(`/v1/devices/${creds.id}`)).running[0]?.version === '2.0.0');

    const directive = nextMessage(device, deviceTopic(creds.id, 'directive'));
    const rb = await cli(['rollback', '--device', creds.id, '--json'], env);
    expect(rb.code).toBe(0);
    expect(JSON.parse(rb.stdout).targets).toEqual([expect.objectContaining({ device: creds.id, from: '2.0.0', version: '1.0.0', downgrade: true })]);
    const checked = checkBundle(
      await directive,
      deviceContext(creds, { committedSequence: 2, running: new Map([['counter', { version: '2.0.0', manifestDigest: fromHex(m2.manifestDigest) }]]) }),
    );
    expect(checked.directive.sequence).toBe(3); // above the sequence the device reported
    expect(checked.releases[0]).toMatchObject({ downgrade: true });
    expect(checked.releases[0].manifest.version).toBe('1.0.0');
    await device.endAsync();

    await fleet.addDevice('rb-fresh');
    const none = await cli(['rollback', '--device', 'rb-fresh'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/DEPLOY_NO_PREVIOUS/);
  });
});

describe('wasmfleet server process', () => {
  it('SIGTERM shuts down gracefully and loses nothing that was acknowledged', async () => {
    const dir = tempDir();
    const keys = join(dir, 'keys');
    const data = join(dir, 'data');
    await cli(['keys', 'init', '--dir', keys]);
    const store = await testStore();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const proc = spawn(process.execPath, [CLI, 'server', '--data', data, '--keys', keys, ...store.args, '--http-port', String(port), '--mqtt-port', String(port + 1), '--no-ws', '--token', 'tok'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, WASMFLEET_LOG: 'warn' },
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor('server up', () => stderr.includes('wasmfleet server'));
    const env = { WASMFLEET_SERVER: `http://127.0.0.1:${port}`, WASMFLEET_TOKEN: 'tok', WASMFLEET_KEYS: keys };
    expect((await cli(['module', 'publish', join(EXAMPLES, 'counter.wat'), '--name', 'counter', '--version', '1.0.0'], env)).code).toBe(0);
    const creds = JSON.parse((await cli(['devices', 'add', 'gs-1', '--json'], env)).stdout) as { id: string; username: string; password: string; mqttUrl: string };
    const device = await connectAs(creds);
    // QoS 1: puback means the broker took it; the server must have it after the restart.
    await device.publishAsync(deviceTopic('gs-1', 'report'), Buffer.from(encodeReport({ state: 'failed', reason: 'MODULE_TRAP', sequence: 0, running: [], time: 7 })), { qos: 1 });
    await waitFor('report stored', async () => JSON.parse((await cli(['devices', 'show', 'gs-1', '--json'], env)).stdout).state === 'failed');
    device.end(true);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: shutting down/);

    const again = spawn(process.execPath, [CLI, 'server', '--data', data, '--keys', keys, ...store.args, '--http-port', String(port), '--mqtt-port', String(port + 1), '--no-ws', '--token', 'tok'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr2 = '';
    again.stderr.on('data', (d: Buffer) => (stderr2 += d.toString()));
    await waitFor('server up again', () => stderr2.includes('wasmfleet server'));
    const shown = JSON.parse((await cli(['devices', 'show', 'gs-1', '--json'], env)).stdout) as { state: string; lastError: string };
    expect(shown.state).toBe('failed');
    expect(shown.lastError).toBe('MODULE_TRAP');
    const mods = JSON.parse((await cli(['module', 'list', '--json'], env)).stdout) as Array<{ name: string }>;
    expect(mods.map((m) => m.name)).toEqual(['counter']);
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
    expect(existsSync(join(data, 'operator-token'))).toBe(false); // the given token is never written
    await store.drop();
  });
});
