// The operator API (fastify): JSON-schema-validated routes behind a bearer token.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import type { DeployDeps } from '../services/deploy.js';
import type { PublishDeps } from '../services/publish.js';
import type { RolloutEngine } from '../rollouts/engine.js';
import type { RolloutRepo } from '../store/rollouts.js';
import { auditRoutes } from './routes/audit.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { errorBody, installErrorHandling } from './errors.js';
import { deploymentRoutes } from './routes/deployments.js';
import { deviceRoutes } from './routes/devices.js';
import { moduleRoutes } from './routes/modules.js';
import { statusRoutes } from './routes/status.js';

export type ApiDeps = PublishDeps &
  DeployDeps & {
    operatorToken: string;
    rollouts: RolloutRepo;
    engine: RolloutEngine;
    publicMqttUrl(): string;
    log: Logger;
  };

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    // Per-request lines at info would drown a fleet's worth of traffic; errors are still logged.
    loggerInstance: deps.log.child({ part: 'http' }, { level: 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: 8 * 1024 * 1024,
    // Refuse what does not fit the schema instead of coercing it ("dev-1" is not ["dev-1"]) or
    // silently dropping unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  installErrorHandling(app);
  app.get('/v1/health', async () => ({ ok: true }));
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/v1/health') return;
    if (!tokenMatches(req.headers.authorization, deps.operatorToken)) {
      return reply.status(401).send(errorBody(new WfError('AUTH_REQUIRED', 'send "Authorization: Bearer <operator token>"')));
    }
  });
  deviceRoutes(app, deps);
  moduleRoutes(app, deps);
  deploymentRoutes(app, deps);
  statusRoutes(app, deps);
  rolloutRoutes(app, deps);
  auditRoutes(app, deps);
  return app;
}
