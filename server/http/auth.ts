// Operator API access, as named steps for every /v1 request but /v1/health and signing in:
//   throttled? → identify (bearer token, else session cookie) → role allows the route?
//   → cookie and the request changes state: same origin? CSRF header? → remember the actor.
// Failed authentications are counted per source address (token bucket) and logged, at most one
// line per address and interval; an address that spent its budget is refused (429) until it refills.
// Sessions and cross-site checks: docs/console.md §sessions, §cross-site requests.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { ThrottledLog, TokenBuckets, type BucketSpec } from '../limits/token-bucket.js';
import type { Actor } from '../store/db.js';
import type { Session, SessionRepo } from '../store/sessions.js';
import { roleAllows, type Role, type TokenRepo } from '../store/tokens.js';
import { errorBody } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator token that made this request (set by the auth hook). */
    actor: Actor | null;
    /** The console session that made this request, when it came with the session cookie. */
    session: Session | null;
  }
}

export const SESSION_COOKIE = 'wf_session';
export const CSRF_HEADER = 'x-wf-csrf';

// Routes a deployer may change; reading is for every role; everything else (devices, tokens) is admin.
const DEPLOYER_PATHS = [/^\/v1\/modules(\/|$)/, /^\/v1\/deployments(\/|$)/, /^\/v1\/rollbacks(\/|$)/, /^\/v1\/rollouts(\/|$)/];

export function roleNeeded(method: string, url: string): Role {
  const path = url.split('?')[0];
  if (path.startsWith('/v1/tokens')) return 'admin';
  if (method === 'GET' || method === 'HEAD') return 'viewer';
  // Signing out is every session's own business.
  if (path === '/v1/session') return 'viewer';
  if (DEPLOYER_PATHS.some((p) => p.test(path))) return 'deployer';
  return 'admin';
}

export interface AuthOptions {
  tokens: TokenRepo;
  sessions: SessionRepo;
  failedAuth: BucketSpec;
  logIntervalMs: number;
  log: Logger;
  clock: () => number;
}

/** What the session routes need of the guard: the same throttle and origin rule as every request. */
export interface AuthGuard {
  /** Refuse (429) and return true when the address spent its failed-authentication budget. */
  throttled(req: FastifyRequest, reply: FastifyReply): boolean;
  /** Count a failed authentication of the request's address (and log it, throttled). */
  failed(req: FastifyRequest, sent: string): void;
  /** The session cookie's value, if the request has one. */
  cookie(req: FastifyRequest): string | undefined;
  /** Throw ORIGIN_REFUSED when the request names another origin than this server. */
  checkOrigin(req: FastifyRequest): void;
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

const changesState = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function installAuth(app: FastifyInstance, o: AuthOptions): AuthGuard {
  const failures = new TokenBuckets(o.failedAuth);
  const logged = new ThrottledLog(o.logIntervalMs);
  app.decorateRequest('actor', null);
  app.decorateRequest('session', null);

  const guard: AuthGuard = {
    throttled(req, reply) {
      const from = req.ip;
      if (failures.has(from)) return false;
      logged.note(`throttled ${from}`, (more) => o.log.warn({ from, more }, 'api: authentication throttled for this address'));
      void reply.status(429).send(errorBody(new WfError('AUTH_THROTTLED', `${from}; try again later`)));
      return true;
    },
    failed(req, sent) {
      const from = req.ip;
      failures.take(from);
      logged.note(`failed ${from}`, (more) => o.log.warn({ from, method: req.method, url: req.url, sent, more }, 'api: authentication failed'));
    },
    cookie(req) {
      const header = req.headers.cookie;
      if (!header) return undefined;
      const value = app.parseCookie(header)[SESSION_COOKIE];
      return value || undefined;
    },
    checkOrigin(req) {
      const origin = req.headers.origin;
      if (origin === undefined) return;
      const own = `${req.protocol}://${req.headers.host ?? ''}`;
      if (origin !== own) throw new WfError('ORIGIN_REFUSED', `Origin ${JSON.stringify(origin.slice(0, 200))} is not ${own}`);
    },
  };

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    // The app's files are public; only the API needs a token. Signing in is judged by its route.
    if (!path.startsWith('/v1/') || path === '/v1/health' || (path === '/v1/session' && req.method === 'POST')) return;
    if (guard.throttled(req, reply)) return reply;
    const token = bearer(req);
    const cookie = token ? undefined : guard.cookie(req);
    let who: { id: string; name: string; role: Role } | undefined;
    if (token !== undefined) {
      who = await o.tokens.identify(token);
      if (!who) {
        guard.failed(req, 'unknown or revoked token');
        return reply.status(401).send(errorBody(new WfError('AUTH_REQUIRED', 'send "Authorization: Bearer <operator token>"')));
      }
    } else if (cookie !== undefined) {
      // A stale cookie is what every browser has after a sign-out or an expiry: not an attack, not counted.
      // (A session id is 32 random bytes: there is nothing to guess.)
      const session = await o.sessions.lookup(cookie, o.clock());
      if (!session) return reply.status(401).send(errorBody(new WfError('SESSION_EXPIRED', 'sign in again')));
      req.session = session;
      who = { id: session.tokenId, name: session.name, role: session.role };
    } else {
      // A page asking "am I signed in?" is not a failed authentication.
      if (path !== '/v1/session') guard.failed(req, 'no token');
      return reply.status(401).send(errorBody(new WfError('AUTH_REQUIRED', 'send "Authorization: Bearer <operator token>" or sign in (POST /v1/session)')));
    }
    const needs = roleNeeded(req.method, req.url);
    if (!roleAllows(who.role, needs)) {
      return reply.status(403).send(errorBody(new WfError('AUTH_FORBIDDEN', `${req.method} ${path} needs the ${needs} role; token ${who.id} (${who.name}) is ${who.role}`)));
    }
    if (req.session && changesState(req.method)) {
      guard.checkOrigin(req);
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || sent === '') throw new WfError('CSRF_REFUSED', `${req.method} ${path}: no ${CSRF_HEADER} header`);
      if (!sameSecret(sent, req.session.csrf)) throw new WfError('CSRF_REFUSED', `${req.method} ${path}: the ${CSRF_HEADER} header is not this session's`);
    }
    req.actor = { id: who.id, name: who.name };
  });
  return guard;
}
