// The audit log, read-only: there is no route that changes or deletes an entry.
import type { FastifyInstance } from 'fastify';
import { readAudit } from '../../store/db.js';
import type { ApiDeps } from '../app.js';

export function auditRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const uint = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  app.get<{ Querystring: { rollout?: string; since?: string; after?: string; limit?: string } }>(
    '/v1/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            rollout: { type: 'string', minLength: 1, maxLength: 64 },
            since: uint,
            after: uint,
            limit: uint,
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      return { entries: await readAudit(deps.sql, { rollout: q.rollout, since: num(q.since), after: num(q.after), limit: Math.min(10000, Math.max(1, num(q.limit) ?? 1000)) }) };
    },
  );
}
