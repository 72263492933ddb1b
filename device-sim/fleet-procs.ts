// One simulated fleet spread over N child processes ("wasmfleet sim --procs N"): one Node process
// is one core, and a 2-core machine runs 10,000 devices only with both busy. The parent provisions
// every device once (so the children share one fleet.json and a rerun finds the same devices),
// gives each child a contiguous slice of ids, merges their summaries for the live view and the
// stop condition, and returns one result across all of them.
//
//   parent ──config──▶ child (fleet-proc.ts): Fleet.start(slice) ──started──▶
//          ◀──summary── every 250 ms
//          ──stop──▶ ◀──result (statuses)── exit
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fleetIds, provision, type FleetOptions, type FleetResult, type RunFleetOptions } from './fleet.js';
import { LiveSummary, summarize, type FleetSummary } from './summary.js';

/** What the parent sends a child: plain data (no engine, signal or callbacks cross a process). */
export type ProcConfig = Omit<FleetOptions, 'engine'> & { seed: string; stateDir: string; prefix: string };

export type ProcMessage =
  | { type: 'started'; engine: string }
  | { type: 'summary'; summary: FleetSummary }
  | { type: 'result'; devices: FleetResult['devices'] }
  | { type: 'error'; message: string };

/** The sum of the children's summaries. */
export function mergeSummaries(parts: FleetSummary[]): FleetSummary {
  const out: FleetSummary = { devices: 0, online: 0, states: {}, running: {}, reasons: {}, inProgress: 0 };
  const add = <K extends string>(into: Partial<Record<K, number>>, from: Partial<Record<K, number>>) => {
    for (const [k, v] of Object.entries(from) as Array<[K, number]>) into[k] = (into[k] ?? 0) + v;
  };
  for (const p of parts) {
    out.devices += p.devices;
    out.online += p.online;
    out.inProgress += p.inProgress;
    add(out.states, p.states);
    add(out.running, p.running);
    add(out.reasons, p.reasons);
  }
  return out;
}

/** Slice sizes as equal as they can be: 10 over 3 → 4, 3, 3. */
export function slices(devices: number, procs: number): Array<{ first: number; count: number }> {
  const n = Math.min(procs, devices);
  const out: Array<{ first: number; count: number }> = [];
  let first = 0;
  for (let i = 0; i < n; i++) {
    const count = Math.floor(devices / n) + (i < devices % n ? 1 : 0);
    out.push({ first, count });
    first += count;
  }
  return out;
}

interface Child {
  proc: ChildProcess;
  summary: FleetSummary;
  exited: boolean;
}

function nextMessage(child: Child, type: ProcMessage['type']): Promise<ProcMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: ProcMessage) => {
      if (m.type === type) done(() => resolve(m));
      else if (m.type === 'error') done(() => reject(new Error(`simulator process ${child.proc.pid}: ${m.message}`)));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`simulator process ${child.proc.pid} exited (${code}) before "${type}"`)));
    const done = (then: () => void) => {
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
      then();
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
  });
}

export async function runFleetProcs(opts: RunFleetOptions): Promise<FleetResult> {
  const seed = opts.seed ?? Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'wasmfleet-sim-'));
  mkdirSync(stateDir, { recursive: true });
  const prefix = opts.prefix ?? `sim-${seed}`;
  // Provision all devices here, once: the children then only read fleet.json.
  await provision(opts, stateDir, fleetIds(prefix, 0, opts.devices));

  const script = fileURLToPath(new URL('./fleet-proc.js', import.meta.url));
  const children: Child[] = slices(opts.devices, opts.procs ?? 1).map(({ first, count }) => {
    const proc = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const cfg: ProcConfig = {
      server: opts.server,
      token: opts.token,
      ca: opts.ca,
      devices: count,
      first,
      prefix,
      seed,
      stateDir,
      tags: opts.tags,
      failRate: opts.failRate,
      workers: opts.workers,
      engineKind: opts.engineKind,
      mqttUrl: opts.mqttUrl,
      agent: opts.agent,
    };
    const child: Child = { proc, summary: summarize([]), exited: false };
    proc.on('message', (m: ProcMessage) => {
      if (m.type === 'summary') child.summary = m.summary;
    });
    proc.once('exit', () => (child.exited = true));
    proc.send(cfg);
    return child;
  });

  const live = new LiveSummary(opts.devices, opts.live ?? false);
  try {
    const started = await Promise.all(children.map((c) => nextMessage(c, 'started')));
    const engine = started[0].type === 'started' ? started[0].engine : 'unknown';
    const deadline = opts.durationS ? Date.now() + opts.durationS * 1000 : Infinity;
    await new Promise<void>((resolve, reject) => {
      const tick = setInterval(() => {
        const s = mergeSummaries(children.map((c) => c.summary));
        live.update(s);
        const lost = children.find((c) => c.exited);
        if (lost) {
          clearInterval(tick);
          reject(new Error(`simulator process ${lost.proc.pid} ended early`));
        } else if (Date.now() >= deadline || opts.signal?.aborted || opts.until?.(s)) {
          clearInterval(tick);
          resolve();
        }
      }, 250);
    });
    live.update(mergeSummaries(children.map((c) => c.summary)));
    const results = await Promise.all(
      children.map((c) => {
        const r = nextMessage(c, 'result');
        c.proc.send({ type: 'stop' });
        return r;
      }),
    );
    const devices = results.flatMap((r) => (r.type === 'result' ? r.devices : []));
    const summary = summarize(devices);
    return { seed, engine, stateDir, ok: summary.inProgress === 0 && summary.online === summary.devices, summary, devices };
  } finally {
    live.stop();
    for (const c of children) if (!c.exited) c.proc.kill();
  }
}
