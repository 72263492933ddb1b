// Operator API access, as named steps for every request but /v1/health:
//   throttled? → identify the bearer token → role allows the route? → remember the actor.
// Failed authentications are counted per source address (token bucket) and logged, at most one
// line per address and interval; an address that spent its budget is refused (429) until it refills.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { ThrottledLog, TokenBuckets, type BucketSpec } from '../limits/token-bucket.js';
import type { Actor } from '../store/db.js';
import { roleAllows, type Role, type TokenRepo } from '../store/tokens.js';
import { errorBody } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator token that made this request (set by the auth hook). */
    actor: Actor | null;
  }
}

// Routes a deployer may change; reading is for every role; everything else (devices, tokens) is admin.
const DEPLOYER_PATHS = [/^\/v1\/modules(\/|$)/, /^\/v1\/deployments(\/|$)/, /^\/v1\/rollbacks(\/|$)/, /^\/v1\/rollouts(\/|$)/];

export function roleNeeded(method: string, url: string): Role {
  const path = url.split('?')[0];
  if (path.startsWith('/v1/tokens')) return 'admin';
  if (method === 'GET' || method === 'HEAD') return 'viewer';
  if (DEPLOYER_PATHS.some((p) => p.test(path))) return 'deployer';
  return 'admin';
}

export interface AuthOptions {
  tokens: TokenRepo;
  failedAuth: BucketSpec;
  logIntervalMs: number;
  log: Logger;
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

export function installAuth(app: FastifyInstance, o: AuthOptions): void {
  const failures = new TokenBuckets(o.failedAuth);
  const logged = new ThrottledLog(o.logIntervalMs);
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/v1/health') return;
    const from = req.ip;
    if (!failures.has(from)) {
      logged.note(`throttled ${from}`, (more) => o.log.warn({ from, more }, 'api: authentication throttled for this address'));
      return reply.status(429).send(errorBody(new WfError('AUTH_THROTTLED', `${from}; try again later`)));
    }
    const token = bearer(req);
    const who = token ? await o.tokens.identify(token) : undefined;
    if (!who) {
      failures.take(from);
      logged.note(`failed ${from}`, (more) =>
        o.log.warn({ from, method: req.method, url: req.url, sent: token ? 'unknown or revoked token' : 'no token', more }, 'api: authentication failed'),
      );
      return reply.status(401).send(errorBody(new WfError('AUTH_REQUIRED', 'send "Authorization: Bearer <operator token>"')));
    }
    const needs = roleNeeded(req.method, req.url);
    if (!roleAllows(who.role, needs)) {
      return reply.status(403).send(errorBody(new WfError('AUTH_FORBIDDEN', `${req.method} ${req.url.split('?')[0]} needs the ${needs} role; token ${who.id} (${who.name}) is ${who.role}`)));
    }
    req.actor = { id: who.id, name: who.name };
  });
}
