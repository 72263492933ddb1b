import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../app.js';
import { keyExpiry } from '../../services/key-expiry.js';
import { nowSeconds } from '../../store/db.js';

/** Fleet summary: how many devices are in each state, online, and on each release. */
export function statusRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/status', async () => {
    const devices = await deps.devices.list();
    const states: Record<string, number> = {};
    const releases: Record<string, number> = {};
    let online = 0;
    for (const d of devices) {
      states[d.state] = (states[d.state] ?? 0) + 1;
      if (d.online) online++;
      for (const r of d.running) releases[`${r.component}@${r.version}`] = (releases[`${r.component}@${r.version}`] ?? 0) + 1;
    }
    // Devices that stopped seeing freshness statements (a freeze, or a server that stopped signing).
    const stale = devices.filter((d) => d.state === 'stale').map((d) => d.id);
    return {
      devices: devices.length,
      online,
      states,
      releases,
      modules: (await deps.modules.list()).length,
      stale,
      keys: keyExpiry(deps.trust(), nowSeconds()),
      // Which instance answered, and whether it runs the rollout engine (several instances: docs/scale-out.md).
      ...(deps.cluster ? { instance: deps.cluster() } : {}),
    };
  });
}
