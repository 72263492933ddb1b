// A simulated fleet: N device agents in one process, sharing one Wasm engine pool, provisioned
// through the server's HTTP API, with injected faults. Used by "wasmfleet sim", the demo, the
// benchmark and the end-to-end tests.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../cli/client.js';
import { fromHex, memoizeEd25519Verify } from '../protocol/crypto.js';
import { DeviceAgent, type AgentOptions, type AgentStatus, type DownloadProgress } from './agent.js';
import { createEngine } from './engine/select.js';
import type { WasmEngine } from './engine/types.js';
import { faultsFor, seededRandom, type DeviceFaults } from './faults.js';
import { writeAtomic } from './slots.js';
import { LiveSummary, summarize, type FleetSummary } from './summary.js';

/** Signature results the fleet process remembers: the shared documents, not each device's directive. */
const SIGNATURE_MEMO_ENTRIES = 256;

export type AgentTuning = Partial<Omit<AgentOptions, 'deviceId' | 'mqttUrl' | 'username' | 'password' | 'rootPublicKey' | 'stateDir' | 'engine' | 'faults'>>;

export interface FleetOptions {
  /** HTTP URL of the fleet server. */
  server: string;
  token?: string;
  /** PEM CA of an https:// server; the devices trust the CA the server hands out with their credentials. */
  ca?: string;
  devices: number;
  /** Index of this fleet's first device in a larger fleet split over processes (default 0). */
  first?: number;
  /** Device ids are "<prefix>-0001"…; default "sim-<seed>". */
  prefix?: string;
  /** Seeds device ids, sensors and faults: the same seed gives the same fleet. */
  seed?: string;
  tags?: Record<string, string>;
  /** Where device state lives (one directory per device); default a new temp dir. */
  stateDir?: string;
  /** Probability of each fault kind per device (0 = none). */
  failRate?: number;
  /** Worker threads of the V8 engine. */
  workers?: number;
  /** The engine to share (the caller closes it); default: createEngine(engineKind). */
  engine?: WasmEngine;
  /** "wasm3" or "v8"; default wasm3 when its addon is built, else V8 (see `notice`). */
  engineKind?: string;
  /** Use this MQTT URL instead of the one the server hands out. */
  mqttUrl?: string;
  agent?: AgentTuning;
}

interface Credentials {
  id: string;
  password: string;
  mqttUrl: string;
  rootPublicKey: string;
  /** The broker's CA when it speaks TLS. */
  caCertificate?: string;
}

interface Member {
  id: string;
  options: AgentOptions;
  faults: DeviceFaults;
  agent: DeviceAgent;
  /** Target sequences already hit by the disconnect/restart fault. */
  hit: Set<string>;
  restarts: number;
  drops: number;
}

/** Credentials for every id: reused from <stateDir>/fleet.json when this server issued them, else provisioned in batches. */
export async function provision(opts: FleetOptions, stateDir: string, ids: string[]): Promise<Map<string, Credentials>> {
  const file = join(stateDir, 'fleet.json');
  const known = new Map<string, Credentials>();
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { server: string; devices: Credentials[] };
    if (saved.server === opts.server) for (const c of saved.devices) known.set(c.id, c);
  }
  const missing = ids.filter((id) => !known.has(id));
  const client = new ApiClient({ server: opts.server, token: opts.token, ca: opts.ca });
  for (let i = 0; i < missing.length; i += 500) {
    const batch = missing.slice(i, i + 500).map((id) => ({ id, tags: opts.tags }));
    const r = await client.post<{ devices: Credentials[] }>('/v1/devices/batch', { devices: batch });
    for (const d of r.devices) known.set(d.id, { id: d.id, password: d.password, mqttUrl: d.mqttUrl, rootPublicKey: d.rootPublicKey, caCertificate: d.caCertificate });
  }
  if (missing.length > 0) writeAtomic(file, JSON.stringify({ server: opts.server, devices: [...known.values()] }));
  return known;
}

/** Device ids "<prefix>-0001"…, `count` of them from index `first`. */
export function fleetIds(prefix: string, first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(first + i + 1).padStart(4, '0')}`);
}

export class Fleet {
  readonly seed: string;
  readonly stateDir: string;
  private readonly members = new Map<string, Member>();
  private stopping = false;
  /** One line for the user when the default engine fell back to V8. */
  notice?: string;

  private constructor(
    private readonly engine: WasmEngine,
    private readonly ownsEngine: boolean,
    seed: string,
    stateDir: string,
  ) {
    this.seed = seed;
    this.stateDir = stateDir;
  }

  /** Provision (or reuse) credentials, then boot every agent. */
  static async start(opts: FleetOptions): Promise<Fleet> {
    // Every device here verifies the same key document and release manifests: each exact
    // (bytes, signature, key) once per process (docs/device-sim.md, "Signature memo").
    memoizeEd25519Verify(SIGNATURE_MEMO_ENTRIES);
    const seed = opts.seed ?? Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
    const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'wasmfleet-sim-'));
    mkdirSync(stateDir, { recursive: true });
    const prefix = opts.prefix ?? `sim-${seed}`;
    const ids = fleetIds(prefix, opts.first ?? 0, opts.devices);
    const creds = await provision(opts, stateDir, ids);
    const choice = opts.engine ? { engine: opts.engine } : createEngine(opts.engineKind, { workers: opts.workers });
    const engine = choice.engine;
    const fleet = new Fleet(engine, !opts.engine, seed, stateDir);
    fleet.notice = choice.notice;
    for (const id of ids) {
      const c = creds.get(id)!;
      const faults = faultsFor(seed, id, opts.failRate ?? 0);
      const options: AgentOptions = {
        deviceId: id,
        mqttUrl: opts.mqttUrl ?? c.mqttUrl,
        username: id,
        password: c.password,
        tls: c.caCertificate ? { ca: c.caCertificate } : undefined,
        rootPublicKey: fromHex(c.rootPublicKey),
        stateDir: join(stateDir, id),
        engine,
        seed: `${seed}/${id}`,
        clockOffsetMs: faults.clockOffsetMs,
        faults: faults.agent,
        // Spread reconnects of a thousand clients after a broker restart.
        reconnectPeriodMs: 500 + Math.floor(seededRandom(id)() * 1500),
        ...opts.agent,
      };
      fleet.members.set(id, { id, options, faults, agent: new DeviceAgent(options), hit: new Set(), restarts: 0, drops: 0 });
    }
    // Boot in small groups: a thousand simultaneous CONNECTs is a storm, not a test.
    const all = [...fleet.members.values()];
    for (let i = 0; i < all.length; i += 50) await Promise.all(all.slice(i, i + 50).map((m) => fleet.boot(m)));
    return fleet;
  }

  private async boot(m: Member): Promise<void> {
    m.agent.on('progress', (p: DownloadProgress) => this.onProgress(m, p));
    await m.agent.start();
  }

  /** The disconnect and restart faults strike once per update, in the middle of its download. */
  private onProgress(m: Member, p: DownloadProgress): void {
    if (p.bytes === 0 || p.bytes >= p.total) return;
    const key = `${p.targetSequence}`;
    if (m.faults.disconnect && !m.hit.has(`d${key}`)) {
      m.hit.add(`d${key}`);
      m.drops++;
      m.agent.dropConnection();
    } else if (m.faults.restart && !m.hit.has(`r${key}`)) {
      m.hit.add(`r${key}`);
      setImmediate(() => void this.restart(m.id));
    }
  }

  /** The engine the devices run modules on ("wasm3" or "v8"). */
  get engineName(): string {
    return this.engine.name;
  }

  get ids(): string[] {
    return [...this.members.keys()];
  }

  agent(id: string): DeviceAgent {
    const m = this.members.get(id);
    if (!m) throw new Error(`no simulated device ${id}`);
    return m.agent;
  }

  /** A process-level restart of one device: stop its agent, boot a new one on the same state dir. */
  async restart(id: string): Promise<void> {
    const m = this.members.get(id);
    if (!m || this.stopping) return;
    const old = m.agent;
    await old.stop();
    if (this.stopping) return;
    m.restarts++;
    m.agent = new DeviceAgent(m.options);
    await this.boot(m);
  }

  /** Each device's status; `pid` is the simulator process running it (several with --procs). */
  statuses(): Array<AgentStatus & { id: string; pid: number; restarts: number; drops: number; faults: string[] }> {
    return [...this.members.values()].map((m) => ({ id: m.id, pid: process.pid, restarts: m.restarts, drops: m.drops, faults: [...m.faults.kinds], ...m.agent.status() }));
  }

  summary(): FleetSummary {
    // Polled every 100-250 ms over every device: only what summarize reads, no per-device copies.
    return summarize([...this.members.values()].map((m) => m.agent.status()));
  }

  /** Poll the fleet until `done` holds; rejects after `timeoutMs` with the summary. */
  async waitFor(what: string, done: (s: FleetSummary, fleet: Fleet) => boolean, timeoutMs: number): Promise<FleetSummary> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.summary();
      if (done(s, this)) return s;
      if (Date.now() > deadline) throw new Error(`fleet: timed out waiting for ${what}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.members.values()].map((m) => m.agent.stop()));
    if (this.ownsEngine) await this.engine.close();
  }
}

export interface RunFleetOptions extends FleetOptions {
  /** Seconds to run; 0 or undefined: until `until` holds or the signal aborts (Ctrl-C). */
  durationS?: number;
  until?: (s: FleetSummary) => boolean;
  signal?: AbortSignal;
  /** Live progress bars (on a terminal). */
  live?: boolean;
  /** Spread the devices over this many processes (device-sim/fleet-procs.ts); default 1. */
  procs?: number;
}

export interface FleetResult {
  seed: string;
  engine: string;
  stateDir: string;
  ok: boolean;
  summary: FleetSummary;
  devices: ReturnType<Fleet['statuses']>;
}

/**
 * Run a fleet to the end of its duration and report. `ok` means a clean finish: every device is
 * online and none is stuck mid-update (assigned … probation).
 */
export async function runFleet(opts: RunFleetOptions): Promise<FleetResult> {
  if ((opts.procs ?? 1) > 1) return (await import('./fleet-procs.js')).runFleetProcs(opts);
  const fleet = await Fleet.start(opts);
  if (fleet.notice) process.stderr.write(`${fleet.notice}\n`);
  const live = new LiveSummary(opts.devices, opts.live ?? false);
  const deadline = opts.durationS ? Date.now() + opts.durationS * 1000 : Infinity;
  try {
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const s = fleet.summary();
        live.update(s);
        if (Date.now() >= deadline || opts.signal?.aborted || opts.until?.(s)) {
          clearInterval(tick);
          resolve();
        }
      }, 250);
    });
  } finally {
    live.update(fleet.summary());
    live.stop();
  }
  const devices = fleet.statuses();
  const summary = summarize(devices);
  await fleet.stop();
  return { seed: fleet.seed, engine: fleet.engineName, stateDir: fleet.stateDir, ok: summary.inProgress === 0 && summary.online === summary.devices, summary, devices };
}
