// The embedded broker: aedes in-process on TCP or TLS (and WebSocket or WSS for browsers), with
// hooks that authenticate each device by its password or its client certificate and confine it
// to its own topic subtree.
// Bounds (docs/security.md §device limits): a frame limit per connection (packet-guard.ts), the
// protocol's payload bound and retain rule per topic, connects per device and failed logins per
// address as token buckets; refusals are logged at most once per interval and key.
import { timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type TlsOptions } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import { parseDeviceTopic, TOPIC_MAX_LENGTH, TOPIC_RULES, DEVICE_PUBLISHES } from '../../protocol/topics.js';
import type { Limits } from '../limits/defaults.js';
import { ThrottledLog, TokenBuckets } from '../limits/token-bucket.js';
import { SERVER_USER, devicePublishAllowed, deviceSubscribeAllowed } from './acl.js';
import { createBrokerMq } from './mq.js';
import { PacketGuard, type GuardedConnection } from './packet-guard.js';
import { IndexedMemoryPersistence } from './persistence.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number | false;
  serverPassword: string;
  checkDevice(id: string, password: string): Promise<boolean>;
  limits: Limits;
  /** A verified client certificate's serial for device `id`: null = accepted, else the refusal's code. */
  checkCertificate(id: string, serial: string): Promise<string | null>;
  /** PEM server certificate, key and the CA that signs device certificates; absent = clear text. */
  tls?: { cert: string; key: string; ca: string };
  log: Logger;
}

// Packet bounds (remaining length). PUBLISH overhead: topic length field, topic, packet id, and
// room for MQTT 5 properties.
const PUBLISH_OVERHEAD = 2 + TOPIC_MAX_LENGTH + 2 + 256;
/** Before CONNECT is authenticated: client id, username, password and the will (online = false). */
export const CONNECT_PACKET_MAX = 2048;
/** A device's largest packet: its largest message (hello or report). */
export const DEVICE_PACKET_MAX = Math.max(...DEVICE_PUBLISHES.map((k) => TOPIC_RULES[k].maxPayload)) + PUBLISH_OVERHEAD;
/** The server's own link publishes directive bundles and chunks. */
export const SERVER_PACKET_MAX = Math.max(...Object.values(TOPIC_RULES).map((r) => r.maxPayload)) + PUBLISH_OVERHEAD;

export interface EmbeddedBroker {
  /** The aedes instance, for the server's in-process link (server/link/inprocess.ts). */
  aedes: Aedes;
  mqttPort: number;
  wsPort: number | null;
  /** Close a device's connection now (after its credentials were revoked or rotated). */
  disconnect(deviceId: string): void;
  close(): Promise<void>;
}

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

// Users are tagged on the aedes client object once authenticated.
const userOf = new WeakMap<Client, string>();

const guardOf = (client: Client) => (client.conn as unknown as Partial<GuardedConnection>) ?? {};

/** The TLS socket under a client: the connection itself (MQTT/TLS) or the upgraded request's (WSS). */
function tlsSocketOf(client: Client): TLSSocket | null {
  const req = (client as unknown as { req?: { socket?: unknown } }).req;
  // Behind the packet guard, the connection is the guard; the socket it wraps is the TLS one.
  const conn = (client as unknown as { conn?: { socket?: unknown } }).conn;
  const sock = req?.socket ?? conn?.socket ?? conn;
  return sock instanceof TLSSocket ? sock : null;
}

export type CertIdentity = { ok: true; id: string; serial: string } | { ok: false; code: string; message: string };

/**
 * The device identity of a presented client certificate (docs/security.md, transport): it must
 * chain to the fleet CA and be in its validity period (checked by TLS), and its CN is the device
 * id, which the MQTT client id (and the username, if one is given) must equal. Null when no
 * certificate was presented.
 */
export function certIdentity(sock: TLSSocket | null, clientId: string, username: string | undefined): CertIdentity | null {
  const cert = sock?.getPeerCertificate();
  if (!sock || !cert || Object.keys(cert).length === 0) return null;
  if (!sock.authorized) return { ok: false, code: 'CERT_UNTRUSTED', message: String(sock.authorizationError) };
  const cn = cert.subject?.CN;
  if (typeof cn !== 'string' || cn !== clientId || (username && username !== cn)) {
    return { ok: false, code: 'CERT_IDENTITY_MISMATCH', message: `certificate CN ${JSON.stringify(cn)} is not the client id ${JSON.stringify(clientId)}${username ? ` / username ${JSON.stringify(username)}` : ''}` };
  }
  return { ok: true, id: cn, serial: cert.serialNumber.replace(/^0+/, '').toUpperCase() };
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const connects = new TokenBuckets(opts.limits.mqttConnects);
  const failedLogins = new TokenBuckets(opts.limits.mqttFailedLogins);
  const logged = new ThrottledLog(opts.limits.logIntervalMs);
  const warn = (key: string, fields: Record<string, unknown>, msg: string) => logged.note(key, (more) => opts.log.warn({ ...fields, more }, msg));
  const sameBytes = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

  const broker = await Aedes.createBroker({
    // mqemitter with its deep-recursion crash under load fixed (broker/mq.ts)
    mq: createBrokerMq(),
    // retained messages found by topic, not by scanning them all on every SUBSCRIBE (broker/persistence.ts)
    persistence: new IndexedMemoryPersistence(),
    // Step 1 of every connection: who is this? (MQTT 3.1.1 §3.1.3.4-5, username/password)
    //   address not throttled → credentials (server or device) → client id = device id → connect rate.
    authenticate(client, username, password, done) {
      const guard = guardOf(client);
      const from = guard.remoteAddress ?? 'unknown';
      const refuse = (why: string, code: number, fields: Record<string, unknown>) => {
        // One line per cause, address and claimed identity per interval (a certificate login has no username).
        warn(`${why} ${from} ${username ?? client.id}`, { from, clientId: client.id, username, ...fields }, `mqtt: ${why}`);
        return done(authError(why, code), false);
      };
      const failed = (why: string) => {
        failedLogins.take(from);
        return refuse(why, 4, {});
      };
      // The store could not answer: CONNACK 3 (server unavailable), the device retries later.
      const storeFailed = (err: unknown) => {
        warn(`store ${from}`, { from, clientId: client.id, err: (err as Error).message }, 'mqtt: credentials not checked: the store failed');
        done(authError('credentials not checked: the store failed', 3), false);
      };
      if (!failedLogins.has(from)) return refuse('login refused: too many failed logins from this address', 5, {});
      const pass = password ? password.toString('utf8') : '';
      // A presented certificate decides: it must verify, name this client, and be the device's current one.
      const byCert = certIdentity(tlsSocketOf(client), client.id, username);
      if (byCert) {
        const verdict = byCert.ok ? opts.checkCertificate(byCert.id, byCert.serial) : Promise.resolve(byCert.code);
        verdict.then(
          (code) => {
            if (code) {
              failedLogins.take(from);
              return refuse(`refused device certificate: ${code}`, 5, { code, detail: byCert.ok ? undefined : byCert.message });
            }
            if (!connects.take(client.id)) return refuse('connect rate exceeded', 3, { device: client.id });
            userOf.set(client, client.id);
            if (guard.limit !== undefined) guard.limit = DEVICE_PACKET_MAX;
            return done(null, true);
          },
          (err: unknown) => storeFailed(err),
        );
        return;
      }
      if (username === SERVER_USER) {
        if (!sameBytes(pass, opts.serverPassword)) return failed('refused server credentials');
        userOf.set(client, SERVER_USER);
        if (guard.limit !== undefined) guard.limit = SERVER_PACKET_MAX;
        return done(null, true);
      }
      if (!username) return failed('refused device credentials');
      opts.checkDevice(username, pass).then(
        (ok) => {
          if (!ok) return failed('refused device credentials');
          // A device may only use its own id as client id: otherwise it could take over another's session.
          if (client.id !== username) return refuse('client id must equal the device id', 2, {});
          // Reconnect storms cost every other device: CONNACK 3 (server unavailable), the device retries later.
          if (!connects.take(username)) return refuse('connect rate exceeded', 3, { device: username });
          userOf.set(client, username);
          if (guard.limit !== undefined) guard.limit = DEVICE_PACKET_MAX;
          return done(null, true);
        },
        (err: unknown) => storeFailed(err),
      );
    },
    // A device publishes only to its own hello, online, report, telemetry and chunk/get topics,
    // within the topic's payload bound, retained only where the protocol retains (docs/protocol.md §5).
    // A refusal closes the connection (MQTT 3.1.1 has no negative PUBACK): nothing is stored or forwarded.
    authorizePublish(client, packet, done) {
      const user = client ? userOf.get(client) : SERVER_USER;
      if (user === SERVER_USER) return done(null);
      const refuse = (why: string) => {
        warn(`${why} ${user}`, { device: user, topic: packet.topic, bytes: packet.payload?.length, retain: packet.retain, qos: packet.qos }, `mqtt: publish refused: ${why}`);
        return done(new Error(`device ${user}: ${why}`));
      };
      if (!user || !devicePublishAllowed(user, packet.topic)) return refuse('outside the device subtree');
      const rule = TOPIC_RULES[parseDeviceTopic(packet.topic)!.kind];
      if (packet.payload.length > rule.maxPayload) return refuse(`payload over the topic bound of ${rule.maxPayload} bytes`);
      if (packet.retain && !rule.retained) return refuse('retained publish on a topic that is not retained');
      if (packet.qos > 1) return refuse('QoS 2 is not used by the protocol');
      return done(null);
    },
    // ... and subscribes only to its own directive and chunk topics. Refusal = SUBACK 0x80.
    authorizeSubscribe(client, sub, done) {
      const user = userOf.get(client);
      if (user === SERVER_USER) return done(null, sub);
      if (user && deviceSubscribeAllowed(user, sub.topic)) return done(null, sub);
      warn(`subscribe ${user}`, { device: user, topic: sub.topic }, 'mqtt: subscription outside the device subtree refused');
      return done(null, null);
    },
  });

  // TLS: ask every client for a certificate but let the password path through without one;
  // a presented certificate that does not verify is refused in authenticate, with its reason logged.
  const tlsOpts: TlsOptions | null = opts.tls
    ? { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }
    : null;
  // Every connection goes through a packet guard: the frame limit aedes lacks.
  const guarded = (stream: import('node:stream').Duplex, remoteAddress: string | undefined) => {
    const from = remoteAddress ?? 'unknown';
    return new PacketGuard(stream, CONNECT_PACKET_MAX, from, (announced, limit) =>
      warn(`oversize ${from}`, { from, announced, limit }, 'mqtt: packet over the connection limit, connection dropped before reading it'),
    );
  };
  const onSocket = (socket: import('node:net').Socket) => broker.handle(guarded(socket, socket.remoteAddress));
  const tcp: NetServer = tlsOpts ? createTlsServer(tlsOpts, onSocket) : createNetServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => resolve());
  });
  let http: HttpServer | null = null;
  let wss: WebSocketServer | null = null;
  if (opts.wsPort !== false) {
    http = tlsOpts ? createHttpsServer(tlsOpts) : createHttpServer();
    // ws bounds each message itself (default 100 MiB): no MQTT packet here is larger than the server's.
    wss = new WebSocketServer({ server: http, maxPayload: SERVER_PACKET_MAX + 8 });
    wss.on('connection', (socket, req) => broker.handle(guarded(createWebSocketStream(socket), req.socket.remoteAddress), req));
    await new Promise<void>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(opts.wsPort as number, opts.host, () => resolve());
    });
  }
  broker.on('clientError', (client, err) => opts.log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
  // An 'error' event with no listener would throw and end the process, API and rollouts with it.
  (broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) => opts.log.error({ err: err.message }, 'mqtt broker error'));

  return {
    aedes: broker,
    mqttPort: (tcp.address() as AddressInfo).port,
    wsPort: http ? (http.address() as AddressInfo).port : null,
    disconnect(deviceId) {
      const client = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[deviceId];
      if (client) {
        opts.log.info({ device: deviceId }, 'mqtt: device disconnected (credentials taken back)');
        client.close();
      }
    },
    async close() {
      // Stop accepting, then let aedes close its clients (which flushes what it acknowledged).
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const client of wss?.clients ?? []) client.terminate();
      await Promise.all([
        new Promise<void>((resolve) => tcp.close(() => resolve())),
        http ? new Promise<void>((resolve) => http!.close(() => resolve())) : Promise.resolve(),
      ]);
    },
  };
}
