// The console's summary reads (docs/console.md): fleet counts, version adoption, the module catalog.
import type { FastifyInstance } from 'fastify';
import { compareVersions } from '../../../protocol/semver.js';
import type { ModuleCatalogView, ModuleView, ModuleVersionView } from '../../../protocol/views.js';
import type { ApiDeps } from '../app.js';

/** Versions of each module newest first, each with the capabilities added and removed since the one before it. */
export function moduleCatalog(modules: ModuleView[]): ModuleCatalogView {
  const byName = new Map<string, ModuleView[]>();
  for (const m of modules) byName.set(m.name, [...(byName.get(m.name) ?? []), m]);
  return {
    modules: [...byName.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, versions]) => {
        const ordered = [...versions].sort((a, b) => compareVersions(a.version, b.version));
        const withDiff: ModuleVersionView[] = ordered.map((m, i) => {
          const prev = ordered[i - 1];
          const before = new Set(prev?.capabilities ?? []);
          const now = new Set(m.capabilities);
          return {
            ...m,
            previous: prev?.version ?? null,
            added: prev ? m.capabilities.filter((c) => !before.has(c)).sort() : [],
            removed: prev ? prev.capabilities.filter((c) => !now.has(c)).sort() : [],
          };
        });
        return { name, versions: withDiff.reverse() };
      }),
  };
}

export function consoleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/console/fleet', async () => deps.queries.fleet(deps.clock()));

  app.get<{ Querystring: { module: string; points?: string; since?: string } }>(
    '/v1/console/adoption',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['module'],
          additionalProperties: false,
          properties: {
            module: { type: 'string', minLength: 1, maxLength: 64 },
            points: { type: 'string', pattern: '^[0-9]{1,3}$' },
            since: { type: 'string', pattern: '^[0-9]{1,12}$' },
          },
        },
      },
    },
    async (req) => {
      const points = Math.min(200, Math.max(2, Number(req.query.points ?? 60)));
      return deps.queries.adoption(req.query.module, points, Math.floor(deps.clock() / 1000), req.query.since === undefined ? undefined : Number(req.query.since));
    },
  );

  app.get('/v1/console/modules', async () => moduleCatalog(await deps.modules.list()));
}
