// The operator API (fastify): JSON-schema-validated routes behind a bearer token or a console
// session, and the web console's files on the same port (docs/console.md).
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
import type { SessionRepo } from '../store/sessions.js';
import type { ConsoleQueries } from '../store/console-queries.js';
import type { DeviceEventRepo } from '../store/device-events.js';
import type { TelemetrySeries } from '../store/telemetry-series.js';
import fastifyCookie from '@fastify/cookie';
import { installAuth } from './auth.js';
import { installConsole } from './console-static.js';
import { RolloutWatchers, STREAM_DEFAULTS, type StreamOptions } from './rollout-stream.js';
import { consoleRoutes } from './routes/console.js';
import { sessionRoutes } from './routes/session.js';
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
    sessions: SessionRepo;
    queries: ConsoleQueries;
    deviceEvents: DeviceEventRepo;
    series: TelemetrySeries;
    /** Milliseconds since the epoch (sessions, snapshots); tests may pass a fake clock. */
    clock: () => number;
    /** Where the built console is (default: dist/console of this package). */
    consoleDir?: string;
    /** Rollout stream timing (tests shorten it). */
    stream?: Partial<StreamOptions>;
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
  void app.register(fastifyCookie);
  const consoleApp = installConsole(app, deps.consoleDir);
  installErrorHandling(app, consoleApp.fallback);
  app.get('/v1/health', async () => ({ ok: true }));
  const guard = installAuth(app, {
    tokens: deps.tokens,
    sessions: deps.sessions,
    failedAuth: deps.limits.apiFailedAuth,
    logIntervalMs: deps.limits.logIntervalMs,
    log: deps.log.child({ part: 'http' }),
    clock: deps.clock,
  });
  const watchers = new RolloutWatchers((id) => deps.queries.rolloutLive(id, deps.clock()), deps.log.child({ part: 'http' }), { ...STREAM_DEFAULTS, ...deps.stream });
  const stopListening = deps.engine.onChange((ids) => watchers.changed(ids));
  // Open streams would keep close() waiting: end them first (browsers reconnect to the next server).
  app.addHook('preClose', async () => {
    stopListening();
    watchers.close();
  });
  sessionRoutes(app, deps, guard);
  consoleRoutes(app, deps);
  deviceRoutes(app, deps);
  moduleRoutes(app, deps);
  deploymentRoutes(app, deps);
  statusRoutes(app, deps);
  rolloutRoutes(app, deps, watchers);
  auditRoutes(app, deps);
  tokenRoutes(app, deps);
  return app;
}
