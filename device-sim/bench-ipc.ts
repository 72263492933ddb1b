// What the multi-process benchmarks (bench.ts, bench-scale.ts) share: flags, the parent/child
// message protocol over Node's IPC channel, and the server role (one embedded server per run,
// reporting its CPU and memory when asked).
import type { ChildProcess } from 'node:child_process';
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
 * Role: the fleet server (embedded aedes, ephemeral ports) in its own process; `extra` changes
 * that (bench-cluster.ts: a PostgreSQL store, an external broker, its own data dir).
 */
export async function serverRole(dir: string, extra: Partial<import('../server/index.js').ServerOptions> = {}): Promise<void> {
  const { startServer } = await import('../server/index.js');
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir: join(dir, 'keys'), httpPort: 0, mqttPort: 0, wsPort: false, log: false, ...extra });
  let peakRss = 0;
  setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 500).unref();
  process.on('message', (m: Msg) => {
    if (m.type === 'stats') send({ type: 'stats', cpu: process.cpuUsage(), rss: process.memoryUsage().rss, peakRss, clients: server.broker?.aedes.connectedClients ?? 0, leader: server.cluster().leader });
    if (m.type === 'close') void server.close().then(() => (send({ type: 'closed' }), process.exit(0)));
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
