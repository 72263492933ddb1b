// Test fixtures with real parts: a real fleet server (aedes + SQLite + blobs, or with
// WF_TEST_STORE=postgres its own database on the run's PostgreSQL) on ephemeral ports, real keys,
// real example modules compiled with jco, real mqtt.js clients.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { ApiClient } from '../../cli/client.js';
import { initKeys } from '../../cli/commands/keys-init.js';
import { publishModuleFile } from '../../cli/commands/module-publish.js';
import { startServer, type FleetServer, type ServerOptions } from '../../server/index.js';
import { createDatabase } from './postgres.js';

export const EXAMPLES = join(process.cwd(), 'examples', 'wat');

export function tempDir(prefix = 'wf-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The store a test server runs on (vitest.config.ts runs the server suite on both). */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.WF_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

export interface TestStore {
  /** ServerOptions.db (`--db`): a fresh PostgreSQL database, or undefined for SQLite in the data dir. */
  db?: string;
  /** The CLI's flags for it: `['--db', url]` or none. */
  args: string[];
  drop(): Promise<void>;
}

/** A store for one test server: with WF_TEST_STORE=postgres its own new database, else the data dir's SQLite. */
export async function testStore(): Promise<TestStore> {
  if (TEST_STORE === 'sqlite') return { args: [], drop: async () => undefined };
  const db = await createDatabase();
  return { db: db.url, args: ['--db', db.url], drop: db.drop };
}

export interface TestFleet {
  dir: string;
  keysDir: string;
  dataDir: string;
  /** Where the server keeps its store (its PostgreSQL database when WF_TEST_STORE=postgres). */
  store: TestStore;
  server: FleetServer;
  api: ApiClient;
  /** `example`: a name in examples/wat, or a module file's path. */
  publish(example: string, name: string, version: string): Promise<{ sha256: string; size: number; manifestDigest: string }>;
  addDevice(id: string, tags?: Record<string, string>): Promise<DeviceCredentials>;
  restart(extra?: Partial<ServerOptions>): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceCredentials {
  id: string;
  username: string;
  password: string;
  /** The broker's CA (PEM) when the server speaks TLS. */
  caCertificate?: string;
  mqttUrl: string;
  rootPublicKey: string;
}

export async function startFleet(extra: Partial<ServerOptions> = {}): Promise<TestFleet> {
  const dir = tempDir();
  const keysDir = join(dir, 'keys');
  const dataDir = join(dir, 'data');
  initKeys(keysDir);
  const store = await testStore();
  const opts: ServerOptions = { dataDir, keysDir, db: store.db, httpPort: 0, mqttPort: 0, wsPort: 0, log: false, ...extra };
  const fleet: TestFleet = {
    dir,
    keysDir,
    dataDir,
    store,
    server: await startServer(opts),
    api: undefined as unknown as ApiClient,
    async publish(example, name, version) {
      // An example's name (examples/wat/<name>.wat), or the path of any module file.
      const file = example.includes('/') ? example : join(EXAMPLES, `${example}.wat`);
      return publishModuleFile(fleet.api, file, { name, version, tickMs: 100, stack: 16384, keysDir });
    },
    addDevice(id, tags) {
      return fleet.api.post<DeviceCredentials>('/v1/devices', { id, tags });
    },
    async restart(more = {}) {
      await fleet.server.close();
      // Same ports: devices reconnect to where they were.
      const mqttPort = Number(new URL(fleet.server.mqttUrl).port);
      const httpPort = Number(new URL(fleet.server.httpUrl).port);
      fleet.server = await startServer({ ...opts, mqttPort: opts.brokerUrl ? undefined : mqttPort, httpPort, ...more });
      fleet.api = apiFor(fleet.server);
    },
    async close() {
      await fleet.server.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fleet.api = apiFor(fleet.server);
  return fleet;
}

/**
 * Everything the fleet's store holds, as bytes to search (is a secret stored in clear?): the
 * SQLite file and its WAL, or every row of every table of its PostgreSQL database as text.
 */
export async function storedBytes(fleet: TestFleet): Promise<Buffer> {
  if (!fleet.store.db) return Buffer.concat(['wasmfleet.db', 'wasmfleet.db-wal'].map((f) => readFileSync(join(fleet.dataDir, f))));
  const client = new pg.Client({ connectionString: fleet.store.db });
  await client.connect();
  try {
    const tables = (await client.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'")).rows.map((r) => r.t);
    const rows = await Promise.all(tables.map(async (t) => (await client.query<{ r: string }>(`SELECT x::text AS r FROM "${t}" x`)).rows.map((r) => r.r)));
    return Buffer.from(rows.flat().join('\n'));
  } finally {
    await client.end();
  }
}

/** The operator's client, trusting the fleet CA when the server speaks HTTPS. */
function apiFor(server: FleetServer): ApiClient {
  return new ApiClient({ server: server.httpUrl, token: server.operatorToken, ca: server.caFile ? readFileSync(server.caFile, 'utf8') : undefined });
}

/** A raw MQTT client holding a device's credentials (client id = device id, as the broker requires). */
export async function connectAs(creds: { id: string; username: string; password: string; mqttUrl: string }, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(creds.mqttUrl, { clientId: creds.id, username: creds.username, password: creds.password, reconnectPeriod: 0, ...extra });
}

/** Poll until `check` returns a value (not undefined/false), or fail with `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The next message on `topic` (subscribes first). */
export async function nextMessage(client: MqttClient, topic: string, timeoutMs = 10_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic}`)), timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(new Uint8Array(payload));
    };
    client.on('message', onMessage);
    client.subscribe(topic, { qos: 1 });
  });
}

/** The device-side context for checkBundle, for a device provisioned with `creds`. */
export function deviceContext(
  creds: { id: string; rootPublicKey: string },
  over: Partial<import('../../protocol/device-checks.js').DeviceContext> = {},
): import('../../protocol/device-checks.js').DeviceContext {
  return {
    deviceId: creds.id,
    rootPublicKey: new Uint8Array(Buffer.from(creds.rootPublicKey, 'hex')),
    now: Math.floor(Date.now() / 1000),
    capabilities: ['clock', 'config', 'kv', 'log', 'telemetry'],
    memory: 1 << 20,
    committedSequence: 0,
    keydocSerial: 1,
    running: new Map(),
    ...over,
  };
}

/**
 * The update path every transport test ends with: wait until the device is online, publish
 * examples/wat/counter.wat as counter@version, deploy it to that device and resolve with the
 * device's view once it reports committed.
 */
export async function deployCounterUntilCommitted<V extends { state: string; online: boolean }>(fleet: TestFleet, deviceId: string, version = '1.0.0'): Promise<V> {
  const path = `/v1/devices/${encodeURIComponent(deviceId)}`;
  await waitFor(`${deviceId} online`, async () => (await fleet.api.get<V>(path)).online);
  await fleet.publish('counter', 'counter', version);
  await fleet.api.post('/v1/deployments', { module: 'counter', version, devices: [deviceId] });
  return waitFor(`${deviceId} committed`, async () => {
    const v = await fleet.api.get<V>(path);
    return v.state === 'committed' ? v : undefined;
  }, 30_000);
}
