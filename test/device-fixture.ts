// Test fixture for the device side: a real aedes broker on an ephemeral port, a signer that crafts
// bundles (good and bad) with protocol/ functions, a chunk server that can misbehave, and a report
// log read over MQTT, as an operator would see it. The real server never signs a bad directive,
// hence this stand-in.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { buildReleaseManifest } from '../cli/commands/module-publish.js';
import { DeviceAgent, type AgentOptions } from '../device-sim/agent.js';
import { createEngine } from '../device-sim/engine/select.js';
import type { WasmEngine } from '../device-sim/engine/types.js';
import { compileWat, loadModuleFile } from '../cli/wat.js';
import {
  decodeChunkRequest,
  decodeReport,
  decodeTelemetry,
  encodeBundle,
  encodeChunkResponse,
  keyId,
  keyPairFromSeed,
  manifestDigest,
  parseDeviceTopic,
  sha256,
  signDirective,
  signKeyDocument,
  signReleaseManifest,
  signRollback,
  toHex,
  deviceTopic,
  type ChunkRequest,
  type Ed25519KeyPair,
  type ReleaseManifest,
  type Report,
  type Telemetry,
} from '../protocol/index.js';

export const NOW = () => Math.floor(Date.now() / 1000);
const DAY = 86400;

/** Poll until `fn` returns a truthy value; the timeout is generous, never an assertion of speed. */
export async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function tempDir(prefix = 'wf-dev-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- broker

export interface TestBroker {
  url: string;
  port: number;
  /** Stop the broker (retained messages are lost, as with an in-memory broker). */
  stop(): Promise<void>;
  /** Start again on the same port. */
  start(): Promise<void>;
}

/** `authenticate`: which (username, password) the broker lets in; refused ones get CONNACK "not authorized". */
export async function startBroker(opts: { authenticate?(username: string, password: string): boolean } = {}): Promise<TestBroker> {
  let broker: Aedes | null = null;
  let server: Server | null = null;
  let port = 0;
  const sockets = new Set<import('node:net').Socket>();
  const start = async () => {
    const check = opts.authenticate;
    broker = await Aedes.createBroker(
      check ? { authenticate: (_client, username, password, done) => done(null, check(username ?? '', password?.toString() ?? '')) } : {},
    );
    const b = broker;
    server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      b.handle(s);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    await new Promise<void>((resolve) => broker?.close(() => resolve()) ?? resolve());
    server = null;
    broker = null;
  };
  await start();
  return { url: `mqtt://127.0.0.1:${port}`, port, stop, start };
}

// ---------------------------------------------------------------- signing

const seeded = (label: string): Ed25519KeyPair => keyPairFromSeed(sha256(new TextEncoder().encode(`device-fixture ${label}`)));

export interface Release {
  component: string;
  version: string;
  image: Uint8Array;
  manifest: Uint8Array;
  digest: Uint8Array;
}

export class Signer {
  readonly root = seeded('root');
  readonly release = seeded('release');
  readonly director = seeded('director');
  readonly stranger = seeded('stranger');

  keyDocument(serial = 1): Uint8Array {
    const now = NOW();
    return signKeyDocument(
      {
        serial,
        issuedAt: now - DAY,
        expires: now + 365 * DAY,
        keys: [
          { kid: keyId(this.release.publicKey), role: 'release', publicKey: this.release.publicKey, expires: now + 365 * DAY },
          { kid: keyId(this.director.publicKey), role: 'director', publicKey: this.director.publicKey, expires: now + 365 * DAY },
        ],
      },
      this.root,
    );
  }

  /** The release manifest the CLI would build for the module, with optional overrides (lies). */
  releaseOf(image: Uint8Array, component: string, version: string, over: Partial<ReleaseManifest> = {}): Release {
    const built = buildReleaseManifest(image, { name: component, version, tickMs: 40, stack: 16384 });
    const manifest = signReleaseManifest({ ...built, memory: { ...built.memory, maxPages: Math.max(1, built.memory.maxPages) }, ...over }, this.release);
    return { component, version, image, manifest, digest: manifestDigest(manifest) };
  }

  bundle(opts: {
    device: string;
    sequence: number;
    releases: Release[];
    expires?: number;
    director?: Ed25519KeyPair;
    rollbackFor?: Release;
    config?: Record<string, string>;
  }): Uint8Array {
    const now = NOW();
    const directive = signDirective(
      {
        device: opts.device,
        sequence: opts.sequence,
        issuedAt: now,
        expires: opts.expires ?? now + DAY,
        rollout: '',
        components: opts.releases.map((r) => ({
          component: r.component,
          manifestDigest: r.digest,
          config: opts.config,
          rollback:
            opts.rollbackFor === r
              ? signRollback({ component: r.component, target: r.digest, issuedAt: now, expires: now + DAY }, this.release)
              : undefined,
        })),
      },
      opts.director ?? this.director,
    );
    return encodeBundle({ keyDocument: this.keyDocument(), directive, manifests: opts.releases.map((r) => r.manifest) });
  }
}

export async function wasm(name: string): Promise<Uint8Array> {
  return loadModuleFile(join('examples/wat', `${name}.wat`));
}

/** The counter module padded with a data segment of `bytes` seeded bytes: an image of many chunks. */
export async function paddedCounter(bytes: number): Promise<Uint8Array> {
  const text = await import('node:fs').then((fs) => fs.readFileSync('examples/wat/counter.wat', 'utf8'));
  const pad = Array.from(sha256Stream(bytes), (b) => '\\' + b.toString(16).padStart(2, '0')).join('');
  return compileWat(text.replace('(data (i32.const 0) "count")', `(data (i32.const 0) "count") (data (i32.const 1024) "${pad}")`), 'padded counter');
}

function* sha256Stream(n: number): Generator<number> {
  let block = sha256(new TextEncoder().encode('pad'));
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % 32 === 0) block = sha256(block);
    yield block[i % 32];
  }
}

// ---------------------------------------------------------------- the server's stand-in

/** What to answer to one chunk request: the right bytes, other bytes, an error, or nothing (null). */
export type ChunkFault = (req: ChunkRequest, data: Uint8Array) => Uint8Array | null | { error: 'CHUNK_UNKNOWN_BLOB' };

export class FakeServer {
  readonly reports = new Map<string, Report[]>();
  readonly telemetry = new Map<string, Telemetry[]>();
  readonly chunkRequests = new Map<string, number>();
  /** Requests per image chunk, keyed "<sha256 hex>:<index>". */
  readonly requestsByChunk = new Map<string, number>();
  private readonly blobs = new Map<string, Uint8Array>();
  fault: ChunkFault | null = null;
  private client!: MqttClient;

  static async connect(url: string): Promise<FakeServer> {
    const s = new FakeServer();
    s.client = mqtt.connect(url, { clientId: `fake-server-${process.pid}`, reconnectPeriod: 200, clean: true });
    s.client.on('connect', () => {
      void s.client.subscribeAsync(['wf/v1/dev/+/chunk/get', 'wf/v1/dev/+/report', 'wf/v1/dev/+/telemetry']).catch(() => {});
    });
    s.client.on('message', (topic, payload) => s.onMessage(topic, new Uint8Array(payload)));
    await new Promise<void>((resolve) => s.client.once('connect', () => resolve()));
    return s;
  }

  addImage(image: Uint8Array): void {
    this.blobs.set(toHex(sha256(image)), image);
  }

  async publishDirective(device: string, bundle: Uint8Array): Promise<void> {
    await this.client.publishAsync(deviceTopic(device, 'directive'), Buffer.from(bundle), { qos: 1, retain: true });
  }

  last(device: string): Report | undefined {
    return this.reports.get(device)?.at(-1);
  }

  /** Every report of `device` since index `from`. */
  reportsOf(device: string): Report[] {
    return this.reports.get(device) ?? [];
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    const t = parseDeviceTopic(topic);
    if (!t) return;
    if (t.kind === 'report') {
      const list = this.reports.get(t.deviceId) ?? [];
      list.push(decodeReport(payload));
      this.reports.set(t.deviceId, list);
    } else if (t.kind === 'telemetry') {
      const list = this.telemetry.get(t.deviceId) ?? [];
      list.push(decodeTelemetry(payload));
      this.telemetry.set(t.deviceId, list);
    } else if (t.kind === 'chunk/get') {
      const req = decodeChunkRequest(payload);
      this.chunkRequests.set(t.deviceId, (this.chunkRequests.get(t.deviceId) ?? 0) + 1);
      const key = `${toHex(req.sha256)}:${req.index}`;
      this.requestsByChunk.set(key, (this.requestsByChunk.get(key) ?? 0) + 1);
      const blob = this.blobs.get(toHex(req.sha256));
      const reply = (body: { data?: Uint8Array; error?: 'CHUNK_UNKNOWN_BLOB' }): void => {
        this.client.publish(deviceTopic(t.deviceId, 'chunk'), Buffer.from(encodeChunkResponse({ sha256: req.sha256, index: req.index, ...body })), { qos: 0 });
      };
      if (!blob) return reply({ error: 'CHUNK_UNKNOWN_BLOB' });
      const data = blob.subarray(req.index * req.chunkSize, Math.min(blob.length, (req.index + 1) * req.chunkSize));
      const out = this.fault ? this.fault(req, data) : data;
      if (out === null) return;
      if (out instanceof Uint8Array) reply({ data: out });
      else reply(out);
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * Everything a device test file runs against: a real broker, the test-side server, a Wasm engine,
 * and the agents the file boots (each on a fresh state dir). close() tears it all down.
 */
export class AgentHarness {
  broker!: TestBroker;
  server!: FakeServer;
  /** The default engine (wasm3 when built), or $WASMFLEET_ENGINE's. */
  engine!: WasmEngine;
  readonly signer = new Signer();
  private readonly dirs: Array<{ remove(): void }> = [];
  private readonly agents: DeviceAgent[] = [];
  private next = 0;

  constructor(
    private readonly idPrefix: string,
    private readonly workers: number,
  ) {}

  async open(): Promise<void> {
    this.broker = await startBroker();
    this.server = await FakeServer.connect(this.broker.url);
    this.engine = createEngine(undefined, { workers: this.workers }).engine;
  }

  /** Options for a new device: this harness's broker, engine and root key, a fresh state dir, then `over`. */
  options(over: Partial<AgentOptions> = {}): AgentOptions {
    const dir = tempDir();
    this.dirs.push(dir);
    return {
      deviceId: `${this.idPrefix}-${process.pid}-${this.next++}`,
      mqttUrl: this.broker.url,
      password: 'token',
      rootPublicKey: this.signer.root.publicKey,
      stateDir: dir.path,
      engine: this.engine,
      // The stand-in server speaks pull only (chunk/get): these tests are about the pull path.
      fanout: false,
      ...over,
    };
  }

  /** Start an agent (a restart: the same options again); it is stopped by close(). */
  async boot(opts: AgentOptions): Promise<DeviceAgent> {
    const agent = new DeviceAgent(opts);
    if (process.env.DEBUG_DEVICE) {
      agent.on('log', (l) => console.log(agent.id, l));
      agent.on('report', (r: Report) => console.log(agent.id, r.state, r.reason ?? '', r.progress ?? ''));
    }
    this.agents.push(agent);
    await agent.start();
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    await this.engine?.close();
    await this.server?.close();
    await this.broker?.stop();
    for (const d of this.dirs) d.remove();
  }
}
