// The embedded broker: aedes in-process on TCP (and WebSocket for browsers), with hooks that
// authenticate each device by its credentials and confine it to its own topic subtree.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import { SERVER_USER, devicePublishAllowed, deviceSubscribeAllowed } from './acl.js';
import { createBrokerMq } from './mq.js';
import { IndexedMemoryPersistence } from './persistence.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  wsPort: number | false;
  serverPassword: string;
  checkDevice(id: string, password: string): boolean;
  log: Logger;
}

export interface EmbeddedBroker {
  /** The aedes instance, for the server's in-process link (server/link/inprocess.ts). */
  aedes: Aedes;
  mqttPort: number;
  wsPort: number | null;
  close(): Promise<void>;
}

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

// Users are tagged on the aedes client object once authenticated.
const userOf = new WeakMap<Client, string>();

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({
    // mqemitter with its deep-recursion crash under load fixed (broker/mq.ts)
    mq: createBrokerMq(),
    // retained messages found by topic, not by scanning them all on every SUBSCRIBE (broker/persistence.ts)
    persistence: new IndexedMemoryPersistence(),
    // Step 1 of every connection: who is this? (MQTT 3.1.1 §3.1.3.4-5, username/password)
    authenticate(client, username, password, done) {
      const pass = password ? password.toString('utf8') : '';
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

  const tcp: NetServer = createNetServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => resolve());
  });
  let http: HttpServer | null = null;
  let wss: WebSocketServer | null = null;
  if (opts.wsPort !== false) {
    http = createHttpServer();
    wss = new WebSocketServer({ server: http });
    wss.on('connection', (socket, req) => broker.handle(createWebSocketStream(socket), req));
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
