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
import { Dynsec } from './broker/dynsec.js';
import { connectInProcessLink, connectMqttLink, DEFAULT_SHARE_GROUP, type Link, type MqttLink } from './link/index.js';
import { joinCluster, openCluster, type Cluster, type ClusterStatus } from './cluster/cluster.js';
import { WfError } from '../protocol/errors.js';
import { prepareFleetTls, type FleetTls, type TlsOptions } from './tls/fleet-tls.js';
import { ensureDir, storeOp, storeOpAsync } from './store/store-errors.js';
import { openStore } from './store/open.js';
import { TELEMETRY_BATCH_DEFAULTS, TelemetryBatch, type TelemetryBatchOptions } from './store/telemetry.js';
import { DeviceRepo } from './store/devices.js';
import { DirectiveRepo } from './store/directives.js';
import { ModuleRepo } from './store/modules.js';
import { RolloutRepo } from './store/rollouts.js';
import { RolloutEngine } from './rollouts/engine.js';
import { TokenRepo } from './store/tokens.js';
import { SessionRepo, SESSION_LIMITS, type SessionLimits } from './store/sessions.js';
import { ConsoleQueries } from './store/console-queries.js';
import { DeviceEventRepo } from './store/device-events.js';
import { SERIES_DEFAULTS, TelemetrySeries, type SeriesOptions } from './store/telemetry-series.js';
import type { StreamOptions } from './http/rollout-stream.js';
import { defaultLimits, type Limits } from './limits/defaults.js';
import { DeviceRates } from './limits/device-rates.js';
import { loadTrust, type Trust } from './trust.js';
import { checkFreshnessOptions, startFreshness, type FreshnessOptions, type FreshnessPublisher } from './services/freshness.js';
import { watchKeyExpiry } from './services/key-expiry.js';
import { publishRetainedDirectives } from './services/retained.js';
import { nowSeconds } from './store/db.js';
import { CHUNK_STREAM_DEFAULTS, ChunkStreams, type ChunkStreamOptions } from './handlers/chunk-stream.js';

export interface ServerOptions {
  /** TLS material, the operator token and, with the default store, the SQLite database and blobs. */
  dataDir: string;
  keysDir: string;
  /**
   * The store: absent = SQLite in the data dir (<data>/wasmfleet.db, blobs in <data>/blobs);
   * postgres://user@host:port/db = PostgreSQL, blobs included (store/open.ts).
   */
  db?: string;
  host?: string;
  httpPort?: number;
  mqttPort?: number;
  wsPort?: number | false;
  /** mqtt://user:pass@host:port (or mqtts://) of an external broker; the embedded aedes is not started. */
  brokerUrl?: string;
  /** With brokerUrl: manage device clients through mosquitto's dynamic security plugin (broker/dynsec.ts). */
  brokerDynsec?: boolean;
  /**
   * TLS for MQTT, WSS and the API: true = the fleet CA and server certificate in <data>/tls
   * (made on first start), or the operator's own files. Off by default on loopback.
   */
  tls?: boolean | TlsOptions;
  /** Allow clear text on a non-loopback address (refused otherwise: TRANSPORT_INSECURE). */
  insecure?: boolean;
  /** The MQTT URL handed to devices; defaults to the broker's. */
  publicMqttUrl?: string;
  operatorToken?: string;
  maxModuleBytes?: number;
  directiveTtlSeconds?: number;
  /** Telemetry write batching (store/telemetry.ts). */
  telemetryBatch?: Partial<TelemetryBatchOptions>;
  /** How long in-flight reports (`assigned` … `probation`) may wait in memory before the store (store/devices.ts). */
  reportFlushMs?: number;
  /** How long outcome reports (committed, failed, …) are gathered to share one transaction (store/devices.ts). */
  reportOutcomeWindowMs?: number;
  /** Rate limits (docs/security.md); each one given replaces its default. */
  limits?: Partial<Limits>;
  /** Freshness statements (protocol.md §3.6): interval and validity. */
  freshness?: FreshnessOptions;
  log?: Logger | false;
  /** The rollout engine's clock (ms); tests may pass a fake one. */
  clock?: () => number;
  /** How often the rollout engine ticks (ms). */
  rolloutTickMs?: number;
  /** How often the engine looks for online devices that lack what they are owed (ms). */
  owedCheckMs?: number;
  /** How often a follower tries to take the lead (ms; default 1000). */
  leaderRetryMs?: number;
  /** With an external broker: the shared-subscription group of the fleet's instances (null: none). */
  brokerShareGroup?: string | null;
  /** The web console's files (default: dist/console of this package). */
  consoleDir?: string;
  /** Console session limits (docs/console.md §sessions). */
  sessionLimits?: Partial<SessionLimits>;
  /** Console telemetry series (store/telemetry-series.ts). */
  telemetrySeries?: Partial<SeriesOptions>;
  /** Console rollout stream timing (http/rollout-stream.ts). */
  stream?: Partial<StreamOptions>;
  /**
   * Per-release chunk fan-out (protocol.md §5.2, handlers/chunk-stream.ts): on by default; false
   * (`--no-fanout`) answers stream requests CHUNK_STREAM_OFF and devices pull. An object tunes it.
   */
  fanout?: boolean | Partial<ChunkStreamOptions>;
}

export interface FleetServer {
  httpUrl: string;
  /** The CA certificate file clients trust (null in clear text). */
  caFile: string | null;
  mqttUrl: string;
  wsUrl: string | null;
  operatorToken: string;
  rootPublicKey: Uint8Array;
  /** The embedded broker (null with an external one): its aedes instance and ports. */
  broker: EmbeddedBroker | null;
  /** The periodic freshness statements (tests hold them back with pause()). */
  freshness: FreshnessPublisher;
  /** Re-read the key document and director key (after "wasmfleet keys rotate"); new directives use them. */
  reloadTrust(): Promise<void>;
  /** This instance among several: its id and whether it leads the rollout engine. */
  cluster(): ClusterStatus;
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

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where the server's own clients dial a listener bound to `host` (a wildcard is reached on loopback). */
function dialHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** Host part of a URL (IPv6 in brackets). */
const urlHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

export async function startServer(opts: ServerOptions): Promise<FleetServer> {
  const log = opts.log === false ? pino({ level: 'silent' }) : (opts.log ?? pino({ level: process.env.WASMFLEET_LOG ?? 'info' }));
  const host = opts.host ?? DEFAULTS.host;
  checkFreshnessOptions(opts.freshness);
  // Nothing listens beyond this machine in clear text unless the operator says so.
  if (!opts.tls && !opts.insecure && !isLoopback(host)) {
    throw new WfError(
      'TRANSPORT_INSECURE',
      `listening on ${host} in clear text: add --tls (a fleet CA and server certificate are made in ${join(opts.dataDir, 'tls')}), bring your own with --tls-cert/--tls-key/--tls-ca, or accept clear text with --insecure`,
    );
  }
  if (!opts.tls && !isLoopback(host)) log.warn({ host }, 'clear text beyond loopback (--insecure): credentials and traffic can be read on the network');
  const shareGroup = opts.brokerShareGroup === undefined ? DEFAULT_SHARE_GROUP : opts.brokerShareGroup;
  // A topic level of its own in $share/<group>/<filter> (MQTT 5 §4.8.2): no separators, no wildcards.
  if (shareGroup !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(shareGroup)) {
    throw new WfError('REQUEST_INVALID', `--broker-share "${shareGroup}": a group name is 1-64 of A-Z a-z 0-9 _ . -`);
  }
  ensureDir(opts.dataDir);
  const tls: FleetTls | null = opts.tls ? await prepareFleetTls(opts.dataDir, host, opts.tls === true ? {} : opts.tls) : null;
  const scheme = { mqtt: tls ? 'mqtts' : 'mqtt', http: tls ? 'https' : 'http', ws: tls ? 'wss' : 'ws' };
  const dial = urlHost(dialHost(host));

  // 1. store and trust material (a read-only or full data dir, or a database out of reach, is a
  //    typed error naming where)
  const { sql, blobs, where: dbPath } = await openStore({
    dataDir: opts.dataDir,
    db: opts.db,
    onIdleError: (err) => log.warn({ err: err.message }, 'store: an idle database connection failed; the pool reconnects'),
  });
  const telemetry = new TelemetryBatch(sql, log.child({ part: 'store' }), { ...TELEMETRY_BATCH_DEFAULTS, ...opts.telemetryBatch });
  // The device history rides in the report batches' transactions.
  const deviceEvents = new DeviceEventRepo(sql, undefined, log.child({ part: 'store' }));
  const devices = new DeviceRepo(sql, telemetry, { progressFlushMs: opts.reportFlushMs, outcomeWindowMs: opts.reportOutcomeWindowMs, rider: deviceEvents });
  const modules = new ModuleRepo(sql);
  const directives = new DirectiveRepo(sql);
  const rollouts = new RolloutRepo(sql);
  const tokens = new TokenRepo(sql);
  const clock = opts.clock ?? Date.now;
  const series = new TelemetrySeries(sql, log.child({ part: 'store' }), { ...SERIES_DEFAULTS, ...opts.telemetrySeries });
  const closeStore = async () => {
    await devices.close(); // the last outcomes and in-flight reports, and the device history
    await telemetry.close();
    await series.close();
    await sql.close();
  };
  let trust: Trust;
  let operatorToken: string;
  try {
    trust = loadTrust(opts.keysDir);
    operatorToken = storeOp(join(opts.dataDir, 'operator-token'), () => operatorTokenFor(opts.dataDir, opts.operatorToken));
    // The data dir's token (or --token) is the first admin token: existing set-ups keep working.
    await storeOpAsync(dbPath, () => tokens.adoptBootstrap(operatorToken));
  } catch (err) {
    await closeStore();
    throw err;
  }
  const maxModuleBytes = opts.maxModuleBytes ?? DEFAULTS.maxModuleBytes;
  const limits: Limits = { ...defaultLimits(maxModuleBytes), ...opts.limits };
  // Leadership and the change feed, before the link (which reads device state only when leading).
  let cluster: Cluster;
  try {
    // With PostgreSQL (--db) several instances may share the store: the lock and the feed live there too.
    cluster = await openCluster({ postgresUrl: opts.db, leaderRetryMs: opts.leaderRetryMs, log });
  } catch (err) {
    await closeStore();
    throw new WfError('STORE_UNREACHABLE', `PostgreSQL (leadership lock, change feed): ${(err as Error).message}`);
  }

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
      checkCertificate: (id, serial) => devices.checkCertificate(id, serial, tls !== null && tls.issuer === null),
      tls: tls ? { cert: tls.certPem, key: tls.keyPem, ca: tls.caPem } : undefined,
      log: log.child({ part: 'broker' }),
    });
    linkUrl = `${scheme.mqtt}://${dial}:${broker.mqttPort}`;
  }
  if (tls) await tls.writeCrl((await devices.revokedSerials()).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt * 1000) })));

  // 3. the server's link to the broker (in-process for the embedded aedes, MQTT for an external
  //    one), then the retained directives (aedes keeps retained messages in memory)
  let engine: RolloutEngine | null = null;
  let link: Link;
  let dynsec: Dynsec | undefined;
  const linkLog = log.child({ part: 'mqtt' });
  const streams = opts.fanout === false ? undefined : new ChunkStreams({ ...CHUNK_STREAM_DEFAULTS, ...(typeof opts.fanout === 'object' ? opts.fanout : {}) }, linkLog);
  const linkCtx = { devices, directives, blobs, events: deviceEvents, series, streams, rates: new DeviceRates(limits, linkLog), log: linkLog, changed: (id: string, why: 'report' | 'hello' | 'online') => engine?.deviceChanged(id, why) };
  try {
    link = broker
      ? await connectInProcessLink(broker.aedes, linkCtx)
      : await connectMqttLink(
          {
            url: linkUrl,
            username: linkUser,
            password: linkPass,
            clientId: `wasmfleet-server-${randomBytes(4).toString('hex')}`,
            // The broker is trusted by the fleet CA; an external one that wants a certificate and no password gets the server's own.
            tls: tls ? { ca: tls.caPem, ...(linkPass === undefined && tls.link ? { cert: tls.link.certPem, key: tls.link.keyPem } : {}) } : undefined,
            shareGroup,
            leading: cluster.leadership.leading,
            log,
          },
          linkCtx,
        );
    if (opts.brokerDynsec) {
      if (broker || !('client' in link) || !linkUser) {
        await link.close();
        throw new WfError('BROKER_CREDENTIALS_FAILED', '--broker-dynsec needs --broker with a user name (a dynsec admin of that mosquitto)');
      }
      dynsec = await Dynsec.start((link as MqttLink).client, linkUser).catch(async (err: unknown) => {
        await link.close();
        throw err;
      });
    }
  } catch (err) {
    await broker?.close();
    await cluster.close();
    await closeStore();
    throw err;
  }
  await publishRetainedDirectives(directives, trust, link.publish, log.child({ part: 'keys' }), nowSeconds());
  const freshness = startFreshness({ trust: () => trust, publish: link.publish, log: log.child({ part: 'freshness' }), now: nowSeconds }, opts.freshness);
  const stopExpiryWatch = watchKeyExpiry(() => trust, nowSeconds, log.child({ part: 'keys' }));

  // 4. the rollout engine: picks up every live rollout where the store left it
  const directiveTtlSeconds = opts.directiveTtlSeconds ?? DEFAULTS.directiveTtlSeconds;
  engine = await RolloutEngine.open(
    {
      sql,
      devices,
      modules,
      directives,
      rollouts,
      trust: () => trust,
      directiveTtlSeconds,
      publish: link.publish,
      log: log.child({ part: 'rollouts' }),
      clock: opts.clock,
      announce: (id) => cluster.feed.publish({ kind: 'rollout', key: id }),
      forward: (id, why) => cluster.feed.publish({ kind: 'device', key: id, why }),
    },
    { tickMs: opts.rolloutTickMs, owedCheckMs: opts.owedCheckMs },
  );
  // Runs the engine here while this instance leads (always, with SQLite).
  joinCluster(cluster, { engine, devices, tokens, setLinkLeading: 'setLeading' in link ? (l) => (link as MqttLink).setLeading(l) : undefined, log });

  // 5. the operator API
  const mqttUrl = opts.publicMqttUrl ?? linkUrl;
  const api = buildApi({
    sql,
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
    sessions: new SessionRepo(sql, { ...SESSION_LIMITS, ...opts.sessionLimits }),
    queries: new ConsoleQueries(sql),
    deviceEvents,
    series,
    clock,
    consoleDir: opts.consoleDir,
    stream: opts.stream,
    limits,
    publicMqttUrl: () => mqttUrl,
    cluster: () => cluster.status(),
    credentials: {
      sql,
      devices,
      issuer: tls?.issuer ?? null,
      caPem: tls?.caPem ?? null,
      writeCrl: async (revoked) => tls?.writeCrl(revoked),
      disconnect: (id) => broker?.disconnect(id),
      broker: dynsec,
    },
    https: tls ? { cert: tls.certPem, key: tls.keyPem } : undefined,
    log,
  });
  await api.listen({ host, port: opts.httpPort ?? DEFAULTS.httpPort });
  const httpPort = (api.server.address() as AddressInfo).port;
  const httpUrl = `${scheme.http}://${dial}:${httpPort}`;
  log.info({ http: httpUrl, mqtt: mqttUrl, tls: Boolean(tls), external: Boolean(opts.brokerUrl) }, 'wasmfleet server ready');

  let closing: Promise<void> | null = null;
  return {
    httpUrl,
    caFile: tls?.caFile ?? null,
    mqttUrl,
    wsUrl: broker?.wsPort ? `${scheme.ws}://${dial}:${broker.wsPort}` : null,
    operatorToken,
    rootPublicKey: trust.rootPublicKey,
    broker,
    freshness,
    cluster: () => cluster.status(),
    async reloadTrust() {
      trust = loadTrust(opts.keysDir);
      log.info({ serial: trust.keyDocument.serial, rootVersion: trust.root.version }, 'key document reloaded');
      freshness.publishNow(); // devices see the new key document (and root chain) at once
      await publishRetainedDirectives(directives, trust, link.publish, log.child({ part: 'keys' }), nowSeconds());
    },
    close() {
      closing ??= (async () => {
        freshness.close();
        stopExpiryWatch();
        await api.close(); // finishes in-flight requests, accepts no new ones
        await engine?.stop(); // the tick under way finishes
        await cluster.close(); // releases the lead at once: another instance takes over
        streams?.close(); // no chunk goes out after this one
        await link.close(); // flushes what the server still had to publish
        await broker?.close();
        await closeStore(); // the last in-flight reports and telemetry batch, then the store
      })();
      return closing;
    },
  };
}
