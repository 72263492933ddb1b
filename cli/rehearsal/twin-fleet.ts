// The twin world of a rehearsal, all in this process and all temporary: a fleet server with its
// own data dir and embedded broker, the real signed releases copied from the operator's server,
// and simulated devices shaped like the real targets (twin.ts) that already run what the real
// ones run. Closing it removes every trace.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../../device-sim/fleet.js';
import { NodeEngine } from '../../device-sim/engine/node-engine.js';
import { startServer, type FleetServer } from '../../server/index.js';
import { ApiClient } from '../client.js';
import type { TwinPlan } from './twin.js';
import { writeTwinTrust } from './twin-trust.js';

/** Every twin carries this tag: the twin rollout targets exactly the twins. */
export const TWIN_TAG = { rehearsal: 'twin' } as const;

export interface TwinWorld {
  api: ApiClient;
  server: FleetServer;
  fleets: Fleet[];
  /** Twin device id → index of its profile in the plan. */
  profileOf: Map<string, number>;
  close(): Promise<void>;
}

export interface TwinWorldOptions {
  /** The operator's server, where the real releases are read. */
  real: ApiClient;
  keysDir: string;
  plan: TwinPlan;
  /** name@version of the release the rollout ships. */
  release: { name: string; version: string };
  /** Probability of each injected fault per twin (device-sim/faults.ts). */
  failRate: number;
  seed: string;
  /** Probation ticks of the twins (compressed time: fewer, faster ticks). */
  probationTicks: number;
  /** Give up waiting for the twins to reach the real devices' starting point after this long. */
  setupTimeoutMs: number;
}

async function copyRelease(from: ApiClient, to: ApiClient, name: string, version: string): Promise<void> {
  const body = await from.get<{ manifest: string; module: string }>(`/v1/modules/${encodeURIComponent(name)}/${encodeURIComponent(version)}/release`);
  await to.post('/v1/modules', body);
}

export async function startTwinWorld(o: TwinWorldOptions): Promise<TwinWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-rehearsal-'));
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir, { mode: 0o700 });
  writeTwinTrust(o.keysDir, keysDir);
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir, httpPort: 0, mqttPort: 0, wsPort: false, log: false, operatorToken: randomBytes(24).toString('base64url') });
  const api = new ApiClient({ server: server.httpUrl, token: server.operatorToken });
  const engine = new NodeEngine({ workers: 1 });
  const fleets: Fleet[] = [];
  const profileOf = new Map<string, number>();
  const close = async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    await engine.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // 1. the real signed releases: the one shipped and every one the targets run now
    const releases = new Map<string, { name: string; version: string }>();
    releases.set(`${o.release.name}@${o.release.version}`, o.release);
    for (const p of o.plan.profiles) if (p.running) releases.set(`${p.running.component}@${p.running.version}`, { name: p.running.component, version: p.running.version });
    for (const r of releases.values()) await copyRelease(o.real, api, r.name, r.version);

    // 2. one simulated fleet per profile, announcing that profile's hello
    for (const [i, p] of o.plan.profiles.entries()) {
      const fleet = await Fleet.start({
        server: server.httpUrl,
        token: server.operatorToken,
        devices: p.twins,
        prefix: `twin-p${i}`,
        seed: `${o.seed}-p${i}`,
        tags: { ...TWIN_TAG },
        stateDir: join(dir, 'devices', `p${i}`),
        failRate: o.failRate,
        engine,
        agent: { hostKind: p.host, capabilities: p.capabilities, memory: p.memory, chunkSize: p.maxChunk, probation: { ticks: o.probationTicks }, retryDelayMs: 500 },
      });
      fleets.push(fleet);
      for (const id of fleet.ids) profileOf.set(id, i);
    }

    // 3. the twins run what their real counterparts run before the rollout starts
    const deadline = Date.now() + o.setupTimeoutMs;
    const deploys: string[] = [];
    for (const [i, p] of o.plan.profiles.entries()) {
      if (!p.running) continue;
      const d = await api.post<{ deployment: string }>('/v1/deployments', { module: p.running.component, version: p.running.version, devices: fleets[i].ids });
      deploys.push(d.deployment);
    }
    for (const [i, p] of o.plan.profiles.entries()) {
      const want = p.running ? `${p.running.component}@${p.running.version}` : null;
      await fleets[i].waitFor(
        `twins of profile ${i} to run ${want ?? 'nothing'}`,
        (s) => s.online === s.devices && (want === null || s.running[want] === s.devices),
        Math.max(1000, deadline - Date.now()),
      );
    }
    // A deploy holds its devices until it completes: the rehearsed rollout may only start then.
    for (const id of deploys) {
      for (;;) {
        const r = await api.get<{ state: string; reason: string | null }>(`/v1/rollouts/${id}`);
        if (r.state === 'completed') break;
        if (r.state !== 'running') throw new Error(`rehearsal: the twins could not be set up like the targets (${id} ${r.state}: ${r.reason})`);
        if (Date.now() > deadline) throw new Error('rehearsal: the twins did not reach the targets\' releases in time');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return { api, server, fleets, profileOf, close };
  } catch (err) {
    await close();
    throw err;
  }
}
