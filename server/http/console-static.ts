// The web console's files (docs/console.md §serving the app): dist/console/ as built by npm
// install, served on the API's port. Every path outside /v1 that is not a file answers the app's
// index.html (the app routes in the browser); /v1 stays the JSON API. Security headers go on
// every response.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** What a browser asks for as a file rather than as a page. */
const FILE_NAME = /\.(js|mjs|css|map|ico|png|svg|jpg|webp|json|txt|webmanifest|woff2?)$/i;

/** dist/console of this package, whether running from dist/ (compiled) or from the sources (tests). */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  // From dist/server/http the walk stops at the package root too (dist/ has no package.json).
  return join(dir, 'dist', 'console');
}

export const CONSOLE_MISSING = (dir: string) =>
  `The wasmfleet web console is not built: ${join(dir, 'index.html')} is missing.\n` +
  'It is built by "npm install" (or "npm ci") in the wasmfleet checkout; then restart or reload this page.\n' +
  'The API is at /v1 and works without it.\n';

export function installConsole(app: FastifyInstance, consoleDir = defaultConsoleDir()): { fallback(req: FastifyRequest, reply: FastifyReply): boolean } {
  const root = resolve(consoleDir);
  const index = join(root, 'index.html');

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  const served = existsSync(root);
  if (served) {
    void app.register(fastifyStatic, {
      root,
      prefix: '/',
      index: false,
      wildcard: true,
      cacheControl: false,
      dotfiles: 'deny',
      // Hashed file names under assets/ never change content; everything else is checked on each load.
      setHeaders: (res, path) => res.setHeader('cache-control', path.startsWith(join(root, 'assets') + '/') ? IMMUTABLE : 'no-cache'),
    });
  }

  const sendIndex = (reply: FastifyReply) => {
    if (!served || !existsSync(index)) return reply.status(503).type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(CONSOLE_MISSING(root));
    return reply.header('cache-control', 'no-cache').sendFile('index.html', root);
  };
  app.get('/', (_req, reply) => sendIndex(reply));

  return {
    /** A GET outside /v1 that named no file: the app (its router shows the page). */
    fallback(req, reply) {
      const path = req.url.split('?')[0];
      if ((req.method !== 'GET' && req.method !== 'HEAD') || path === '/v1' || path.startsWith('/v1/')) return false;
      // A missing asset is a 404 (a stale page asking for an old bundle must not get HTML back);
      // any other path is a page of the app, dots and all (/modules/app@1.2.0).
      if (path.startsWith('/assets/') || FILE_NAME.test(path)) return false;
      void sendIndex(reply);
      return true;
    },
  };
}
