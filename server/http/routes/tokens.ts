import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../../store/tokens.js';
import type { ApiDeps } from '../app.js';

/** Operator tokens (admin only, see auth.ts): create (the secret is shown once), list, revoke. */
export function tokenRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Body: { name: string; role: Role } }>(
    '/v1/tokens',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,64}$' }, role: { type: 'string', enum: [...ROLES] } },
        },
      },
    },
    async (req, reply) => reply.status(201).send(await deps.tokens.create(req.body.name, req.body.role, req.actor)),
  );

  app.get('/v1/tokens', async () => ({ tokens: await deps.tokens.list() }));

  // Revoking a token also ends its console sessions (a session's lookup checks the token too).
  app.post<{ Params: { id: string } }>('/v1/tokens/:id/revoke', async (req) => {
    const revoked = await deps.tokens.revoke(req.params.id, req.actor);
    await deps.sessions.endForToken(revoked.id);
    return revoked;
  });
}
