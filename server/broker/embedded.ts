// The embedded broker: aedes in-process on TCP or TLS (and WebSocket or WSS for browsers), with
// hooks that authenticate each device by its password or its client certificate and confine it
// to its own topic subtree.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type TlsOptions } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import { SERVER_USER, devicePublishAllowed, deviceSubscribeAllowed } from './acl.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number | false;
  serverPassword: string;
  checkDevice(id: string, password: string): boolean;
  /** A verified client certificate's serial for device `id`: null = accepted, else the refusal's code. */
  checkCertificate(id: string, serial: string): string | null;
  /** PEM server certificate, key and the CA that signs device certificates; absent = clear text. */
  tls?: { cert: string; key: string; ca: string };
  log: Logger;
}

export interface EmbeddedBroker {
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

/** The TLS socket under a client: the connection itself (MQTT/TLS) or the upgraded request's (WSS). */
function tlsSocketOf(client: Client): TLSSocket | null {
  const req = (client as unknown as { req?: { socket?: unknown } }).req;
  const sock = req?.socket ?? (client as unknown as { conn?: unknown }).conn;
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
  const broker = await Aedes.createBroker({
    // Step 1 of every connection: who is this? (MQTT 3.1.1 §3.1.3.4-5, username/password)
    authenticate(client, username, password, done) {
      const pass = password ? password.toString('utf8') : '';
      // A presented certificate decides: it must verify, name this client, and be the device's current one.
      const byCert = certIdentity(tlsSocketOf(client), client.id, username);
      if (byCert) {
        const code = byCert.ok ? opts.checkCertificate(byCert.id, byCert.serial) : byCert.code;
        if (code) {
          opts.log.warn({ clientId: client.id, code, detail: byCert.ok ? undefined : byCert.message }, 'mqtt: refused device certificate');
          return done(authError(`certificate refused: ${code}`, 5), false);
        }
        userOf.set(client, client.id);
        return done(null, true);
      }
      if (username === SERVER_USER) {
        if (pass === opts.serverPassword) {
          userOf.set(client, SERVER_USER);
          return done(null, true);
        }
        return done(authError('bad server credentials', 4), false);
      }
      if (!username || !opts.checkDevice(username, pass)) {
        opts.log.warn({ clientId: client.id, username }, 'mqtt: refused device credentials');
        return done(authError('bad username or password', 4), false);
      }
      // A device may only use its own id as client id: otherwise it could take over another's session.
      if (client.id !== username) {
        opts.log.warn({ clientId: client.id, username }, 'mqtt: client id must equal the device id');
        return done(authError('client id must equal the device id', 2), false);
      }
      userOf.set(client, username);
      return done(null, true);
    },
    // A device publishes only to its own hello, online, report, telemetry and chunk/get topics.
    authorizePublish(client, packet, done) {
      const user = client ? userOf.get(client) : SERVER_USER;
      if (user === SERVER_USER) return done(null);
      if (user && devicePublishAllowed(user, packet.topic)) return done(null);
      opts.log.warn({ device: user, topic: packet.topic }, 'mqtt: publish outside the device subtree refused');
      return done(new Error(`device ${user} may not publish to ${packet.topic}`));
    },
    // ... and subscribes only to its own directive and chunk topics. Refusal = SUBACK 0x80.
    authorizeSubscribe(client, sub, done) {
      const user = userOf.get(client);
      if (user === SERVER_USER) return done(null, sub);
      if (user && deviceSubscribeAllowed(user, sub.topic)) return done(null, sub);
      opts.log.warn({ device: user, topic: sub.topic }, 'mqtt: subscription outside the device subtree refused');
      return done(null, null);
    },
  });

  // TLS: ask every client for a certificate but let the password path through without one;
  // a presented certificate that does not verify is refused in authenticate, with its reason logged.
  const tlsOpts: TlsOptions | null = opts.tls
    ? { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }
    : null;
  const tcp: NetServer = tlsOpts ? createTlsServer(tlsOpts, broker.handle) : createNetServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => resolve());
  });
  let http: HttpServer | null = null;
  let wss: WebSocketServer | null = null;
  if (opts.wsPort !== false) {
    http = tlsOpts ? createHttpsServer(tlsOpts) : createHttpServer();
    wss = new WebSocketServer({ server: http });
    wss.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket), req));
    await new Promise<void>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(opts.wsPort as number, opts.host, () => resolve());
    });
  }
  broker.on('clientError', (client, err) => opts.log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));

  return {
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
