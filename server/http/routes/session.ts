// Console sign-in and sign-out (docs/console.md §sessions): an operator token is exchanged for a
// session cookie; the token itself never stays in the browser.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { WfError } from '../../../protocol/errors.js';
import type { SessionView } from '../../../protocol/views.js';
import type { Session } from '../../store/sessions.js';
import type { ApiDeps } from '../app.js';
import { SESSION_COOKIE, type AuthGuard } from '../auth.js';

const view = (s: Session): SessionView => ({ tokenId: s.tokenId, name: s.name, role: s.role, csrf: s.csrf, expiresAt: s.expiresAt, idleExpiresAt: s.idleExpiresAt });

export function sessionRoutes(app: FastifyInstance, deps: ApiDeps, guard: AuthGuard): void {
  const secure = deps.https !== undefined;
  const cookieOptions = { httpOnly: true, sameSite: 'strict', path: '/', secure } as const;

  app.post<{ Body: { token: string } }>(
    '/v1/session',
    {
      schema: {
        body: { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 256 } } },
      },
    },
    async (req, reply: FastifyReply) => {
      if (guard.throttled(req, reply)) return reply;
      guard.checkOrigin(req);
      const who = await deps.tokens.identify(req.body.token);
      if (!who) {
        guard.failed(req, 'sign-in with an unknown or revoked token');
        throw new WfError('AUTH_REQUIRED', 'that operator token is unknown or revoked');
      }
      const now = deps.clock();
      const { id, session } = await deps.sessions.create(who, now);
      void reply.setCookie(SESSION_COOKIE, id, { ...cookieOptions, expires: new Date(session.expiresAt) });
      return view(session);
    },
  );

  // Who am I (and the CSRF token again, for a page that was reloaded). The auth hook found the session.
  app.get('/v1/session', async (req) => {
    if (!req.session) throw new WfError('REQUEST_INVALID', 'GET /v1/session answers a session cookie, not a bearer token');
    return view(req.session);
  });

  app.delete('/v1/session', async (req, reply) => {
    const cookie = guard.cookie(req);
    if (cookie) await deps.sessions.end(cookie);
    void reply.clearCookie(SESSION_COOKIE, cookieOptions);
    return { ok: true };
  });
}
