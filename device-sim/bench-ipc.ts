// What the multi-process benchmarks (bench.ts, bench-scale.ts) share: flags, the parent/child
// message protocol over Node's IPC channel, and the server role (one embedded server per run,
// reporting its CPU and memory when asked).
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { compileWat } from '../cli/wat.js';

export type Msg = Record<string, unknown> & { type: string };

/** A numeric --name flag of this process, or the fallback. */
export const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};

/** To the parent process. */
export const send = (m: Msg) => process.send!(m);

/** The child's next message of this type; an `error` message from it rejects. */
export function next(child: ChildProcess, type: string): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Msg) => {
      if (m.type === type) {
        child.off('message', onMessage);
        resolve(m);
      } else if (m.type === 'error') reject(new Error(String(m.message)));
    };
    child.on('message', onMessage);
  });
}

/** Send a message to the child and wait for its reply of type `reply`. */
export const request = (child: ChildProcess, msg: Msg, reply: string): Promise<Msg> => {
  const r = next(child, reply);
  child.send(msg);
  return r;
};

/**
 * BENCH_PROF=<dir>: a CPU profile of this process over the measured window only (the parent sends
 * `prof-start` and `prof-stop`), written as <dir>/<role>.cpuprofile for Chrome DevTools or
 * `node --cpu-prof`'s readers. Without BENCH_PROF the messages are ignored.
 */
export function profileOnRequest(role: string): void {
  const dir = process.env.BENCH_PROF;
  if (!dir) return;
  const session = new Session();
  session.connect();
  process.on('message', (m: Msg) => {
    if (m.type === 'prof-start') void session.post('Profiler.enable').then(() => session.post('Profiler.start'));
    if (m.type === 'prof-stop') {
      void session.post('Profiler.stop').then(({ profile }) => {
        writeFileSync(join(dir, `${role}.cpuprofile`), JSON.stringify(profile));
        send({ type: 'prof-written', role });
      });
    }
  });
}

/**
 * The raw broker baseline's responder: a second embedded broker, configured as the server's (the
 * same aedes, message bus, persistence, packet guard and topic rules), with no wasmfleet server on
 * it: one in-process subscriber answers each chunk request with a response encoded in advance.
 * What remains is the broker's own work per request and per response.
 */
async function rawBroker(image: Uint8Array, chunkSize: number): Promise<{ mqttUrl: string; fanOut(): void; close(): Promise<void> }> {
  const pino = (await import('pino')).default;
  const { startEmbeddedBroker } = await import('../server/broker/embedded.js');
  const { defaultLimits } = await import('../server/limits/defaults.js');
  const { sha256 } = await import('../protocol/crypto.js');
  const { decodeChunkRequest, encodeChunkResponse } = await import('../protocol/messages.js');
  const { deviceTopic, fleetTopic, parseDeviceTopic, FRESHNESS_TOPIC } = await import('../protocol/topics.js');
  const digest = sha256(image);
  const responses: Buffer[] = [];
  for (let i = 0; i * chunkSize < image.length; i++) {
    responses.push(Buffer.from(encodeChunkResponse({ sha256: digest, index: i, data: image.subarray(i * chunkSize, (i + 1) * chunkSize) })));
  }
  const limits = { ...defaultLimits(image.length), mqttConnects: { capacity: 1e9, perSecond: 1e9 } };
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: false, serverPassword: 'unused', checkDevice: async () => true, checkCertificate: async () => null, limits, log: pino({ level: 'silent' }) });
  await new Promise<void>((resolve) =>
    broker.aedes.subscribe(
      fleetTopic('chunk/get'),
      (packet, cb) => {
        const id = parseDeviceTopic(packet.topic)!.deviceId;
        const payload = responses[decodeChunkRequest(new Uint8Array(packet.payload as Buffer)).index];
        broker.aedes.publish({ cmd: 'publish', topic: deviceTopic(id, 'chunk'), payload, qos: 0, retain: false, dup: false }, () => {});
        cb();
      },
      () => resolve(),
    ),
  );
  return {
    mqttUrl: `mqtt://127.0.0.1:${broker.mqttPort}`,
    // The fan-out measurement: every chunk published once on a topic all devices may read (the
    // fleet-wide freshness topic stands in for a per-release topic), the broker copies it to each.
    fanOut: () => {
      for (const payload of responses) broker.aedes.publish({ cmd: 'publish', topic: FRESHNESS_TOPIC, payload, qos: 0, retain: false, dup: false }, () => {});
    },
    close: () => broker.close(),
  };
}

/**
 * Role: the fleet server (embedded aedes, ephemeral ports) in its own process; `extra` changes
 * that (bench-cluster.ts: a PostgreSQL store, an external broker, its own data dir).
 */
export async function serverRole(dir: string, extra: Partial<import('../server/index.js').ServerOptions> = {}): Promise<void> {
  const { startServer } = await import('../server/index.js');
  let raw: Awaited<ReturnType<typeof rawBroker>> | null = null;
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), httpPort: 0, mqttPort: 0, wsPort: false, log: false, ...extra });
  profileOnRequest('server');
  let peakRss = 0;
  setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 500).unref();
  // Chunk traffic through the embedded broker: chunks on image topics (fan-out), chunks answered
  // on devices' own topics (pull), and the devices' chunk/get and chunk/stream requests.
  const publishes = { image: 0, answers: 0, gets: 0, streams: 0 };
  // Bytes the broker wrote to its clients' sockets so far (connected clients: the devices stay connected through a deploy).
  const bytesToClients = () =>
    Object.values((server.broker?.aedes as unknown as { clients?: Record<string, { conn?: { socket?: { bytesWritten?: number } } }> })?.clients ?? {}).reduce((n, c) => n + (c.conn?.socket?.bytesWritten ?? 0), 0);
  server.broker?.aedes.on('publish', (packet) => {
    const t = packet.topic;
    if (t.startsWith('wf/v1/img/')) publishes.image++;
    else if (t.endsWith('/chunk')) publishes.answers++;
    else if (t.endsWith('/chunk/get')) publishes.gets++;
    else if (t.endsWith('/chunk/stream')) publishes.streams++;
  });
  process.on('message', (m: Msg) => {
    if (m.type === 'stats') send({ type: 'stats', cpu: process.cpuUsage(), rss: process.memoryUsage().rss, peakRss, clients: server.broker?.aedes.connectedClients ?? 0, leader: server.cluster().leader, publishes: { ...publishes }, bytesToClients: bytesToClients() });
    if (m.type === 'raw-broker') {
      void rawBroker(new Uint8Array(Buffer.from(String(m.image), 'base64')), Number(m.chunkSize)).then((r) => {
        raw = r;
        send({ type: 'raw-broker', mqttUrl: r.mqttUrl });
      });
    }
    if (m.type === 'raw-fanout') {
      raw?.fanOut();
      send({ type: 'raw-fanout' });
    }
    if (m.type === 'close') void Promise.resolve(raw?.close()).then(() => server.close()).then(() => (send({ type: 'closed' }), process.exit(0)));
  });
  send({ type: 'ready', httpUrl: server.httpUrl, mqttUrl: server.mqttUrl, token: server.operatorToken });
}

/** The benchmarks' release: a valid ABI v1 module of exactly `size` bytes (a data segment pads it). */
export async function moduleOfSize(size: number): Promise<string> {
  const wat = (pad: number) =>
    `(module (memory (export "memory") 2 2) (data (i32.const 1024) "${'\\00'.repeat(0)}${Array.from({ length: pad }, (_, i) => '\\' + ((i * 131 + 7) & 0xff).toString(16).padStart(2, '0')).join('')}")
  (func (export "wf_init") (result i32) (i32.const 0)) (func (export "wf_tick") (result i32) (i32.const 0)) (func (export "wf_health") (result i32) (i32.const 0)))`;
  let pad = size - 200;
  for (let i = 0; i < 4; i++) {
    const got = (await compileWat(wat(pad))).length;
    if (got === size) break;
    pad += size - got;
  }
  return wat(pad);
}
