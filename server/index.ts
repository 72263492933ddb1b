// The fleet server: store + broker (embedded aedes or external) + MQTT link + operator API.
// Start-up order: store → trust → broker → link (subscribe) → republish retained directives → HTTP.
// Shutdown runs in reverse, so nothing that was acknowledged is lost.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { writeFileAtomic } from '../protocol/keyfiles.js';
import { deviceTopic } from '../protocol/topics.js';
import { SERVER_USER } from './broker/acl.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { buildApi } from './http/app.js';
import { connectLink, type Link } from './link.js';
import { BlobStore } from './store/blobs.js';
import { openDb } from './store/db.js';
import { ensureDir, storeOp } from './store/store-errors.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch, type TelemetryBatchOptions } from './store/telemetry.js';
import { DeviceRepo } from './store/devices.js';
import { DirectiveRepo } from './store/directives.js';
import { ModuleRepo } from './store/modules.js';
import { RolloutRepo } from './store/rollouts.js';
import { RolloutEngine } from './rollouts/engine.js';
import { TokenRepo } from './store/tokens.js';
import { defaultLimits, type Limits } from './limits/defaults.js';
import { DeviceRates } from './limits/device-rates.js';
import { loadTrust, type Trust } from './trust.js';

export interface ServerOptions {
  dataDir: string;
  keysDir: string;
  host?: string;
  httpPort?: number;
  mqttPort?: number;
  wsPort?: number | false;
  /** mqtt://user:pass@host:port of an external broker; the embedded aedes is not started. */
  brokerUrl?: string;
  /** The MQTT URL handed to devices; defaults to the broker's. */
  publicMqttUrl?: string;
  operatorToken?: string;
  maxModuleBytes?: number;
  directiveTtlSeconds?: number;
  /** Telemetry write batching (store/telemetry.ts). */
  telemetryBatch?: Partial<TelemetryBatchOptions>;
  /** Rate limits (docs/security.md); each one given replaces its default. */
  limits?: Partial<Limits>;
  log?: Logger | false;
  /** The rollout engine's clock (ms); tests may pass a fake one. */
  clock?: () => number;
  /** How often the rollout engine ticks (ms). */
  rolloutTickMs?: number;
  /** How often the engine looks for online devices that lack what they are owed (ms). */
  owedCheckMs?: number;
}

export interface FleetServer {
  httpUrl: string;
  mqttUrl: string;
  wsUrl: string | null;
  operatorToken: string;
  rootPublicKey: Uint8Array;
  /** Re-read the key document and director key (after "wasmfleet keys rotate"); new directives use them. */
  reloadTrust(): void;
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  httpPort: 8080,
  mqttPort: 1883,
  wsPort: 8083,
  maxModuleBytes: 4 * 1024 * 1024,
  directiveTtlSeconds: 30 * 86400,
} as const;

/** The operator token: given, or the one stored in the data dir, or a new one stored there (0600). */
function operatorTokenFor(dataDir: string, given?: string): string {
  if (given) return given;
  const path = join(dataDir, 'operator-token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileAtomic(path, token + '\n', 0o600);
  return token;
}

export async function startServer(opts: ServerOptions): Promise<FleetServer> {
  const log = opts.log === false ? pino({ level: 'silent' }) : (opts.log ?? pino({ level: process.env.WASMFLEET_LOG ?? 'info' }));
  const host = opts.host ?? DEFAULTS.host;
  ensureDir(opts.dataDir);

  // 1. store and trust material (a read-only or full data dir is a typed error naming the path)
  const dbPath = join(opts.dataDir, 'wasmfleet.db');
  const db = storeOp(dbPath, () => openDb(dbPath));
  const blobs = new BlobStore(join(opts.dataDir, 'blobs'));
  const telemetry = new TelemetryBatch(db, log.child({ part: 'store' }), { ...TELEMETRY_BATCH_DEFAULTS, ...opts.telemetryBatch });
  const devices = new DeviceRepo(db, telemetry);
  const modules = new ModuleRepo(db);
  const directives = new DirectiveRepo(db);
  const rollouts = new RolloutRepo(db);
  let trust: Trust;
  try {
    trust = loadTrust(opts.keysDir);
  } catch (err) {
    telemetry.close();
    db.close();
    throw err;
  }
  let operatorToken: string;
  let tokens: TokenRepo;
  try {
    operatorToken = storeOp(join(opts.dataDir, 'operator-token'), () => operatorTokenFor(opts.dataDir, opts.operatorToken));
    // The data dir's token (or --token) is the first admin token: existing set-ups keep working.
    tokens = storeOp(dbPath, () => new TokenRepo(db));
    storeOp(dbPath, () => tokens.adoptBootstrap(operatorToken));
  } catch (err) {
    telemetry.close();
    db.close();
    throw err;
  }
  const maxModuleBytes = opts.maxModuleBytes ?? DEFAULTS.maxModuleBytes;
  const limits: Limits = { ...defaultLimits(maxModuleBytes), ...opts.limits };

  // 2. broker: embedded aedes unless an external one is named
  let broker: EmbeddedBroker | null = null;
  let linkUrl: string;
  let linkUser: string | undefined;
  let linkPass: string | undefined;
  if (opts.brokerUrl) {
    const u = new URL(opts.brokerUrl);
    linkUser = u.username ? decodeURIComponent(u.username) : undefined;
    linkPass = u.password ? decodeURIComponent(u.password) : undefined;
    u.username = '';
    u.password = '';
    linkUrl = u.toString().replace(/\/$/, '');
  } else {
    linkPass = randomBytes(24).toString('base64url');
    linkUser = SERVER_USER;
    broker = await startEmbeddedBroker({
      host,
      port: opts.mqttPort ?? DEFAULTS.mqttPort,
      wsPort: opts.wsPort ?? DEFAULTS.wsPort,
      serverPassword: linkPass,
      checkDevice: (id, password) => devices.checkCredentials(id, password),
      limits,
      log: log.child({ part: 'broker' }),
    });
    linkUrl = `mqtt://${host}:${broker.mqttPort}`;
  }

  // 3. the server's own MQTT link, then the retained directives (aedes keeps retained messages in memory)
  let engine: RolloutEngine | null = null;
  let link: Link;
  try {
    link = await connectLink(
      { url: linkUrl, username: linkUser, password: linkPass, clientId: `wasmfleet-server-${randomBytes(4).toString('hex')}`, log },
      { devices, directives, blobs, rates: new DeviceRates(limits, log.child({ part: 'mqtt' })), log: log.child({ part: 'mqtt' }), changed: (id, why) => engine?.deviceChanged(id, why) },
    );
  } catch (err) {
    await broker?.close();
    telemetry.close();
    db.close();
    throw err;
  }
  for (const { deviceId, bundle } of directives.latestBundles()) {
    link.publish(deviceTopic(deviceId, 'directive'), bundle, { qos: 1, retain: true });
  }

  // 4. the rollout engine: picks up every live rollout where the store left it
  const directiveTtlSeconds = opts.directiveTtlSeconds ?? DEFAULTS.directiveTtlSeconds;
  engine = new RolloutEngine(
    { db, devices, modules, directives, rollouts, trust: () => trust, directiveTtlSeconds, publish: link.publish, log: log.child({ part: 'rollouts' }), clock: opts.clock },
    { tickMs: opts.rolloutTickMs, owedCheckMs: opts.owedCheckMs },
  );
  engine.start();

  // 5. the operator API
  const mqttUrl = opts.publicMqttUrl ?? linkUrl;
  const api = buildApi({
    db,
    devices,
    modules,
    directives,
    blobs,
    trust: () => trust,
    maxModuleBytes,
    directiveTtlSeconds,
    publish: link.publish,
    rollouts,
    engine,
    tokens,
    limits,
    publicMqttUrl: () => mqttUrl,
    log,
  });
  await api.listen({ host, port: opts.httpPort ?? DEFAULTS.httpPort });
  const httpPort = (api.server.address() as AddressInfo).port;
  log.info({ http: `http://${host}:${httpPort}`, mqtt: mqttUrl, external: Boolean(opts.brokerUrl) }, 'wasmfleet server ready');

  let closing: Promise<void> | null = null;
  return {
    httpUrl: `http://${host}:${httpPort}`,
    mqttUrl,
    wsUrl: broker?.wsPort ? `ws://${host}:${broker.wsPort}` : null,
    operatorToken,
    rootPublicKey: trust.rootPublicKey,
    reloadTrust() {
      trust = loadTrust(opts.keysDir);
      log.info({ serial: trust.keyDocument.serial }, 'key document reloaded');
    },
    close() {
      closing ??= (async () => {
        await api.close(); // finishes in-flight requests, accepts no new ones
        engine?.stop();
        await link.close(); // flushes what the server still had to publish
        await broker?.close();
        telemetry.close(); // the last batch
        db.close();
      })();
      return closing;
    },
  };
}
