// The operator API (fastify): JSON-schema-validated routes behind a bearer token.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DeployDeps } from '../services/deploy.js';
import type { CredentialDeps } from '../services/credentials.js';
import type { PublishDeps } from '../services/publish.js';
import type { RolloutEngine } from '../rollouts/engine.js';
import type { RolloutRepo } from '../store/rollouts.js';
import type { Limits } from '../limits/defaults.js';
import type { TokenRepo } from '../store/tokens.js';
import type { ClusterStatus } from '../cluster/cluster.js';
import { installAuth } from './auth.js';
import { auditRoutes } from './routes/audit.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { installErrorHandling } from './errors.js';
import { deploymentRoutes } from './routes/deployments.js';
import { deviceRoutes } from './routes/devices.js';
import { moduleRoutes } from './routes/modules.js';
import { statusRoutes } from './routes/status.js';
import { tokenRoutes } from './routes/tokens.js';

export type ApiDeps = PublishDeps &
  DeployDeps & {
    rollouts: RolloutRepo;
    engine: RolloutEngine;
    tokens: TokenRepo;
    limits: Limits;
    publicMqttUrl(): string;
    /** This instance among several (docs/scale-out.md); absent in tests that build the API alone. */
    cluster?: () => ClusterStatus;
    credentials: CredentialDeps & { caPem: string | null };
    /** HTTPS: the server certificate and key (PEM); absent = HTTP. */
    https?: { cert: string; key: string };
    log: Logger;
  };

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key, minVersion: 'TLSv1.2' as const } } : {}),
    // Per-request lines at info would drown a fleet's worth of traffic; errors are still logged.
    loggerInstance: deps.log.child({ part: 'http' }, { level: 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: 8 * 1024 * 1024,
    // Refuse what does not fit the schema instead of coercing it ("dev-1" is not ["dev-1"]) or
    // silently dropping unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  installErrorHandling(app);
  app.get('/v1/health', async () => ({ ok: true }));
  installAuth(app, { tokens: deps.tokens, failedAuth: deps.limits.apiFailedAuth, logIntervalMs: deps.limits.logIntervalMs, log: deps.log.child({ part: 'http' }) });
  deviceRoutes(app, deps);
  moduleRoutes(app, deps);
  deploymentRoutes(app, deps);
  statusRoutes(app, deps);
  rolloutRoutes(app, deps);
  auditRoutes(app, deps);
  tokenRoutes(app, deps);
  return app;
}
