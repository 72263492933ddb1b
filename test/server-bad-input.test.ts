// Bad input at every edge: a precise error (HTTP 4xx with a JSON code), the server keeps serving,
// the store is unchanged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReleaseManifest } from '../cli/commands/module-publish.js';
import { loadModuleFile } from '../cli/wat.js';
import {
  deviceTopic,
  encodeCbor,
  encodeReport,
  generateKeyPair,
  readKeyPair,
  signReleaseManifest,
  WfError,
} from '../protocol/index.js';
import { connectAs, EXAMPLES, startFleet, waitFor, type TestFleet } from './helpers/server.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startFleet({ maxModuleBytes: 64 * 1024 });
  await fleet.publish('counter', 'counter', '1.0.0');
});
afterAll(async () => fleet?.close());

async function rawPost(path: string, body: unknown, token = fleet.server.operatorToken) {
  const res = await fetch(fleet.server.httpUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

async function expectRefused(p: Promise<unknown>, code: string): Promise<WfError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(WfError);
  expect((err as WfError).code).toBe(code);
  return err as WfError;
}

const modulesCount = async () => (await fleet.api.get<{ modules: unknown[] }>('/v1/modules')).modules.length;

async function manifestAndModule(example: string, name: string, version: string, signer = readKeyPair(fleet.keysDir, 'release')) {
  const wasm = await loadModuleFile(join(EXAMPLES, `${example}.wat`));
  const manifest = signReleaseManifest(buildReleaseManifest(wasm, { name, version, tickMs: 100, stack: 16384 }), signer);
  return { manifest: Buffer.from(manifest).toString('base64'), module: Buffer.from(wasm).toString('base64') };
}

describe('operator API refuses bad input precisely and keeps serving', () => {
  it('wrong or missing operator token → 401 AUTH_REQUIRED', async () => {
    const r = await rawPost('/v1/devices', { id: 'x' }, 'not-the-token');
    expect(r.status).toBe(401);
    expect(r.body.error?.code).toBe('AUTH_REQUIRED');
    const list = await fetch(fleet.server.httpUrl + '/v1/devices');
    expect(list.status).toBe(401);
  });

  it('a module that is not Wasm → 400 MODULE_INVALID, registry unchanged', async () => {
    const before = await modulesCount();
    const body = await manifestAndModule('counter', 'notwasm', '1.0.0');
    const r = await rawPost('/v1/modules', { ...body, module: Buffer.from('hello world, not wasm').toString('base64') });
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('MODULE_INVALID');
    expect(await modulesCount()).toBe(before);
  });

  it('a module importing outside host ABI v1 → 400 ABI_UNKNOWN_IMPORT naming the import', async () => {
    const wasm = await loadModuleFile(join(EXAMPLES, 'unknown-import.wat'));
    const manifest = signReleaseManifest(
      { ...buildReleaseManifest(await loadModuleFile(join(EXAMPLES, 'counter.wat')), { name: 'evil', version: '1.0.0', tickMs: 100, stack: 1 }) },
      readKeyPair(fleet.keysDir, 'release'),
    );
    const r = await rawPost('/v1/modules', { manifest: Buffer.from(manifest).toString('base64'), module: Buffer.from(wasm).toString('base64') });
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('ABI_UNKNOWN_IMPORT');
    expect(r.body.error?.message).toContain('launch_missiles');
  });

  it('a manifest signed by a key outside the key document → 400 COSE_UNKNOWN_KID', async () => {
    const r = await rawPost('/v1/modules', await manifestAndModule('counter', 'forged', '1.0.0', generateKeyPair()));
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('COSE_UNKNOWN_KID');
  });

  it('a manifest signed by the director key (wrong role) → 400 COSE_WRONG_ROLE', async () => {
    const r = await rawPost('/v1/modules', await manifestAndModule('counter', 'forged', '1.0.0', readKeyPair(fleet.keysDir, 'director')));
    expect(r.body.error?.code).toBe('COSE_WRONG_ROLE');
  });

  it('a manifest that describes other bytes → 400 MANIFEST_MISMATCH', async () => {
    const a = await manifestAndModule('counter', 'mismatch', '1.0.0');
    const b = await manifestAndModule('blink', 'mismatch', '1.0.0');
    const r = await rawPost('/v1/modules', { manifest: a.manifest, module: b.module });
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('MANIFEST_MISMATCH');
  });

  it('a forged manifest signature (one bit) → 400 COSE_BAD_SIGNATURE', async () => {
    const body = await manifestAndModule('counter', 'bitflip', '1.0.0');
    const bytes = Buffer.from(body.manifest, 'base64');
    bytes[bytes.length - 3] ^= 1;
    const r = await rawPost('/v1/modules', { ...body, manifest: bytes.toString('base64') });
    expect(r.body.error?.code).toBe('COSE_BAD_SIGNATURE');
  });

  it('an oversized upload → 413, registry unchanged', async () => {
    const before = await modulesCount();
    const r = await rawPost('/v1/modules', { manifest: 'AAAA', module: Buffer.alloc(200 * 1024).toString('base64') });
    expect(r.status).toBe(413);
    expect(r.body.error?.code).toBe('REQUEST_TOO_LARGE');
    expect(await modulesCount()).toBe(before);
  });

  it('the same bytes twice is idempotent; the same name@version with other bytes → 409', async () => {
    const again = await rawPost('/v1/modules', await manifestAndModule('counter', 'counter', '1.0.0'));
    expect(again.status).toBe(200);
    const other = await rawPost('/v1/modules', await manifestAndModule('blink', 'counter', '1.0.0'));
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe('MODULE_VERSION_CONFLICT');
    const m = await fleet.api.get<{ sha256: string }>('/v1/modules/counter/1.0.0');
    const counter = await loadModuleFile(join(EXAMPLES, 'counter.wat'));
    expect(m.sha256).toBe((await import('../protocol/crypto.js')).toHex((await import('../protocol/crypto.js')).sha256(counter)));
  });

  it('schema violations name the part that failed', async () => {
    const r = await rawPost('/v1/deployments', { module: 'counter', version: '1.0.0', devices: 'dev-1' });
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('REQUEST_INVALID');
    expect(r.body.error?.message).toMatch(/body\/devices must be array/);
    const bad = await rawPost('/v1/modules', '{not json');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('REQUEST_INVALID');
  });

  it('an unknown device → 404 DEVICE_NOT_FOUND; nothing is deployed to the others', async () => {
    await fleet.addDevice('known-1');
    await expectRefused(fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: ['known-1', 'ghost'] }), 'DEVICE_NOT_FOUND');
    await expectRefused(fleet.api.get('/v1/devices/ghost'), 'DEVICE_NOT_FOUND');
    const d = await fleet.api.get<{ commits: unknown[] }>('/v1/devices/known-1');
    expect(d.commits).toEqual([]);
    const { deployments } = await fleet.api.get<{ deployments: unknown[] }>('/v1/deployments');
    expect(deployments).toEqual([]);
  });

  it('invalid and duplicate device ids are refused', async () => {
    await expectRefused(fleet.api.post('/v1/devices', { id: 'bad/id' }), 'DEVICE_ID_INVALID');
    await fleet.addDevice('dup-1');
    await expectRefused(fleet.api.post('/v1/devices', { id: 'dup-1' }), 'DEVICE_EXISTS');
    await expectRefused(fleet.api.post('/v1/devices/batch', { devices: [{ id: 'dup-2' }, { id: 'dup-2' }] }), 'DEVICE_EXISTS');
    await expectRefused(fleet.api.get('/v1/devices/dup-2'), 'DEVICE_NOT_FOUND'); // all or nothing
  });

  it('a deploy of an unknown release or to an empty selection is refused', async () => {
    await expectRefused(fleet.api.post('/v1/deployments', { module: 'counter', version: '9.9.9', devices: ['known-1'] }), 'MODULE_NOT_FOUND');
    await expectRefused(fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', tags: { site: 'nowhere' } }), 'DEPLOY_NO_TARGETS');
  });
});

describe('MQTT edge: devices are confined and bad messages are dropped', () => {
  it('wrong credentials and a borrowed client id are refused at CONNECT', async () => {
    const creds = await fleet.addDevice('mqtt-1');
    await expect(connectAs({ ...creds, password: 'wrong' })).rejects.toThrow(/Bad username or password/i);
    await expect(connectAs({ ...creds, id: 'someone-else' })).rejects.toThrow(/Identifier rejected/i);
  });

  it('a device publishing outside its subtree is disconnected; the server keeps serving', async () => {
    const a = await fleet.addDevice('mqtt-a');
    await fleet.addDevice('mqtt-b');
    const client = await connectAs(a);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.publish(deviceTopic('mqtt-b', 'report'), Buffer.from(encodeReport({ state: 'failed', reason: 'MODULE_TRAP', sequence: 0, running: [], time: 1 })), { qos: 1 });
    await closed;
    const b = await fleet.api.get<{ state: string }>('/v1/devices/mqtt-b');
    expect(b.state).toBe('idle');
    client.end(true);
    // Subscribing to another device's directive is refused with SUBACK 0x80.
    const again = await connectAs(a);
    await expect(again.subscribeAsync(deviceTopic('mqtt-b', 'directive'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await again.endAsync();
    expect((await fetch(fleet.server.httpUrl + '/v1/health')).status).toBe(200);
  });

  it('malformed and non-canonical CBOR on the report topic are dropped; the device record is unchanged', async () => {
    const creds = await fleet.addDevice('mqtt-cbor');
    const client = await connectAs(creds);
    const topic = deviceTopic(creds.id, 'report');
    await client.publishAsync(topic, Buffer.from([0xa1, 0x01]), { qos: 1 }); // truncated
    await client.publishAsync(topic, Buffer.from('not cbor at all'), { qos: 1 });
    await client.publishAsync(topic, Buffer.from(encodeCbor(new Map<number, unknown>([[1, 'committed'], [3, -5], [4, []], [8, 1]]))), { qos: 1 });
    // then a valid one, to show the server still processes this device
    await client.publishAsync(topic, Buffer.from(encodeReport({ state: 'downloading', sequence: 0, running: [], progress: { bytes: 1, total: 2 }, time: 5 })), { qos: 1 });
    const d = await waitFor('valid report applied', async () => {
      const v = await fleet.api.get<{ state: string; sequence: number }>(`/v1/devices/${creds.id}`);
      return v.state === 'downloading' ? v : undefined;
    });
    expect(d.sequence).toBe(0);
    await client.endAsync();
  });

  it('a chunk request for an image the device was never given → CHUNK_UNKNOWN_BLOB', async () => {
    const creds = await fleet.addDevice('mqtt-chunk');
    const client = await connectAs(creds);
    const { decodeChunkResponse, encodeChunkRequest, fromHex } = await import('../protocol/index.js');
    const m = await fleet.api.get<{ sha256: string }>('/v1/modules/counter/1.0.0');
    await client.subscribeAsync(deviceTopic(creds.id, 'chunk'));
    const reply = new Promise<Buffer>((r) => client.once('message', (_t, p) => r(p)));
    client.publish(deviceTopic(creds.id, 'chunk/get'), Buffer.from(encodeChunkRequest({ sha256: fromHex(m.sha256), index: 0, chunkSize: 1024 })));
    expect(decodeChunkResponse(new Uint8Array(await reply)).error).toBe('CHUNK_UNKNOWN_BLOB');
    await client.endAsync();
  });
});

describe('trust material', () => {
  it('the server refuses to start on an expired key document, with KEYDOC_EXPIRED', async () => {
    const { initKeys } = await import('../cli/commands/keys-init.js');
    const { startServer } = await import('../server/index.js');
    const { tempDir } = await import('./helpers/server.js');
    const dir = tempDir();
    initKeys(join(dir, 'keys'), Math.floor(Date.now() / 1000) - 3 * 365 * 86400, 1);
    await expect(startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), httpPort: 0, mqttPort: 0, wsPort: false, log: false })).rejects.toMatchObject({
      code: 'KEYDOC_EXPIRED',
    });
    expect(readFileSync(join(dir, 'keys', 'root.pub'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });
});
