// The fleet server: store + broker (embedded aedes or external) + MQTT link + operator API.
// Start-up order: store → trust → broker → link (subscribe) → republish retained directives → HTTP.
// Shutdown runs in reverse, so nothing that was acknowledged is lost.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
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
import { DeviceRepo } from './store/devices.js';
import { DirectiveRepo } from './store/directives.js';
import { ModuleRepo } from './store/modules.js';
import { loadTrust, type Trust } from './trust.js';
import { checkFreshnessOptions, startFreshness, type FreshnessOptions, type FreshnessPublisher } from './services/freshness.js';
import { watchKeyExpiry } from './services/key-expiry.js';
import { publishRetainedDirectives } from './services/retained.js';
import { nowSeconds } from './store/db.js';

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
  /** Freshness statements (protocol.md §3.6): interval and validity. */
  freshness?: FreshnessOptions;
  log?: Logger | false;
}

export interface FleetServer {
  httpUrl: string;
  mqttUrl: string;
  wsUrl: string | null;
  operatorToken: string;
  rootPublicKey: Uint8Array;
  /** The periodic freshness statements (tests hold them back with pause()). */
  freshness: FreshnessPublisher;
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
  checkFreshnessOptions(opts.freshness);
  mkdirSync(opts.dataDir, { recursive: true });

  // 1. store and trust material
  const db = openDb(join(opts.dataDir, 'wasmfleet.db'));
  const blobs = new BlobStore(join(opts.dataDir, 'blobs'));
  const devices = new DeviceRepo(db);
  const modules = new ModuleRepo(db);
  const directives = new DirectiveRepo(db);
  let trust: Trust;
  try {
    trust = loadTrust(opts.keysDir);
  } catch (err) {
    db.close();
    throw err;
  }
  const operatorToken = operatorTokenFor(opts.dataDir, opts.operatorToken);

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
      log: log.child({ part: 'broker' }),
    });
    linkUrl = `mqtt://${host}:${broker.mqttPort}`;
  }

  // 3. the server's own MQTT link, then the retained directives (aedes keeps retained messages in memory)
  let link: Link;
  try {
    link = await connectLink(
      { url: linkUrl, username: linkUser, password: linkPass, clientId: `wasmfleet-server-${randomBytes(4).toString('hex')}`, log },
      { devices, directives, blobs, log: log.child({ part: 'mqtt' }) },
    );
  } catch (err) {
    await broker?.close();
    db.close();
    throw err;
  }
  publishRetainedDirectives(directives, trust, link.publish, log.child({ part: 'keys' }), nowSeconds());
  const freshness = startFreshness({ trust: () => trust, publish: link.publish, log: log.child({ part: 'freshness' }), now: nowSeconds }, opts.freshness);
  const stopExpiryWatch = watchKeyExpiry(() => trust, nowSeconds, log.child({ part: 'keys' }));

  // 4. the operator API
  const mqttUrl = opts.publicMqttUrl ?? linkUrl;
  const api = buildApi({
    db,
    devices,
    modules,
    directives,
    blobs,
    trust: () => trust,
    maxModuleBytes: opts.maxModuleBytes ?? DEFAULTS.maxModuleBytes,
    directiveTtlSeconds: opts.directiveTtlSeconds ?? DEFAULTS.directiveTtlSeconds,
    publish: link.publish,
    operatorToken,
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
    freshness,
    reloadTrust() {
      trust = loadTrust(opts.keysDir);
      log.info({ serial: trust.keyDocument.serial, rootVersion: trust.root.version }, 'key document reloaded');
      freshness.publishNow(); // devices see the new key document (and root chain) at once
      publishRetainedDirectives(directives, trust, link.publish, log.child({ part: 'keys' }), nowSeconds());
    },
    close() {
      closing ??= (async () => {
        freshness.close();
        stopExpiryWatch();
        await api.close(); // finishes in-flight requests, accepts no new ones
        await link.close(); // flushes what the server still had to publish
        await broker?.close();
        db.close();
      })();
      return closing;
    },
  };
}
