// The audit log, read-only: there is no route that changes or deletes an entry.
// Oldest first from `after` (the CLI's form), or newest first before `before` with order=desc (the console's pages).
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../app.js';

export function auditRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const uint = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  app.get<{
    Querystring: { rollout?: string; action?: string; actor?: string; since?: string; until?: string; after?: string; before?: string; order?: 'asc' | 'desc'; limit?: string };
  }>(
    '/v1/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            rollout: { type: 'string', minLength: 1, maxLength: 64 },
            action: { type: 'string', minLength: 1, maxLength: 64 },
            actor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
            since: uint,
            until: uint,
            after: uint,
            before: uint,
            order: { enum: ['asc', 'desc'] },
            limit: uint,
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        entries: await deps.queries.audit({
          rollout: q.rollout,
          action: q.action,
          actor: q.actor,
          since: num(q.since),
          until: num(q.until),
          after: num(q.after),
          before: num(q.before),
          order: q.order ?? 'asc',
          limit: Math.min(10000, Math.max(1, num(q.limit) ?? 1000)),
        }),
      };
    },
  );
}
