// Rollouts: plan, create, inspect, and the operator's actions. Bad input is refused here, before
// anything is stored or sent (schemas at the edge; the policy's numbers in model.validatePolicy).
import type { FastifyInstance } from 'fastify';
import { MEMBER_STATES, type Policy, type Selector } from '../../rollouts/model.js';
import type { ApiDeps } from '../app.js';
import { base64Field } from '../errors.js';
import { WfError } from '../../../protocol/errors.js';
import { CONTENT_SECURITY_POLICY } from '../console-static.js';
import type { RolloutWatchers } from '../rollout-stream.js';

const strings = (max: number, maxItems: number) => ({ type: 'array', items: { type: 'string', minLength: 1, maxLength: max }, maxItems }) as const;

export const selectorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    devices: strings(64, 100000),
    tags: { type: 'object', additionalProperties: { type: 'string', maxLength: 128 }, maxProperties: 32 },
    hosts: { type: 'array', items: { enum: ['v8', 'wasm3', 'wamr'] }, maxItems: 3 },
    abi: { type: 'integer', minimum: 1, maximum: 255 },
    capabilities: strings(32, 32),
    running: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const;

const policySchema = {
  type: 'object',
  required: ['waves'],
  additionalProperties: false,
  properties: {
    waves: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { percent: { type: 'number' }, count: { type: 'integer' } },
        oneOf: [{ required: ['percent'] }, { required: ['count'] }],
      },
    },
    soakSeconds: { type: 'number' },
    ratePerMinute: { type: ['number', 'null'] },
    rateGrowth: { type: 'number' },
    deadlineSeconds: { type: 'number' },
    retries: { type: 'integer' },
    successPercent: { type: 'number' },
    maxFailuresPercent: { type: 'number' },
    minSample: { type: 'integer' },
    onFailure: { enum: ['pause', 'rollback'] },
    approval: { type: 'boolean' },
    allowNewCapabilities: { type: 'boolean' },
  },
} as const;

const release = {
  module: { type: 'string', minLength: 1, maxLength: 64 },
  version: { type: 'string', minLength: 1, maxLength: 32 },
} as const;

type PlanBody = { module: string; version: string; selector: Selector };
type CreateBody = PlanBody & { policy: Partial<Policy> & Pick<Policy, 'waves'>; authorizations?: string[]; expires: number };

export function rolloutRoutes(app: FastifyInstance, deps: ApiDeps, watchers: RolloutWatchers): void {
  const { engine } = deps;

  app.post<{ Body: PlanBody }>(
    '/v1/rollouts/plan',
    { schema: { body: { type: 'object', required: ['module', 'version', 'selector'], additionalProperties: false, properties: { ...release, selector: selectorSchema } } } },
    async (req) => engine.plan(req.body),
  );

  app.post<{ Body: CreateBody }>(
    '/v1/rollouts',
    {
      schema: {
        body: {
          type: 'object',
          required: ['module', 'version', 'selector', 'policy', 'expires'],
          additionalProperties: false,
          properties: {
            ...release,
            selector: selectorSchema,
            policy: policySchema,
            authorizations: { type: 'array', items: { type: 'string', maxLength: 1024 }, maxItems: 256 },
            expires: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const authorizations = (req.body.authorizations ?? []).map((a, i) => base64Field(a, `authorizations/${i}`));
      const r = await engine.create({ ...req.body, authorizations, actor: req.actor });
      return reply.status(201).send(await engine.view(r.id));
    },
  );

  const uint = { type: 'string', pattern: '^[0-9]{1,6}$' } as const;
  app.get<{ Querystring: { limit?: string } }>(
    '/v1/rollouts',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: uint } } } },
    async (req) => ({ rollouts: await deps.rollouts.list(Math.min(1000, Math.max(1, Number(req.query.limit ?? 100)))) }),
  );

  app.get<{ Params: { id: string } }>('/v1/rollouts/:id', async (req) => engine.view(req.params.id));

  app.get<{ Params: { id: string }; Querystring: { state?: string; limit?: string } }>(
    '/v1/rollouts/:id/devices',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { state: { enum: [...MEMBER_STATES] }, limit: uint },
        },
      },
    },
    async (req) => {
      await deps.rollouts.require(req.params.id);
      const all = (await deps.rollouts.members(req.params.id)).filter((m) => !req.query.state || m.state === req.query.state);
      return { devices: all.slice(0, Number(req.query.limit ?? 100000)) };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/rollouts/:id/live', async (req) => {
    const view = await deps.queries.rolloutLive(req.params.id, deps.clock());
    if (!view) throw new WfError('ROLLOUT_NOT_FOUND', req.params.id);
    return view;
  });

  // Server-sent events (docs/console.md §the rollout stream): snapshots from the shared watcher.
  app.get<{ Params: { id: string } }>('/v1/rollouts/:id/events', async (req, reply) => {
    const first = await deps.queries.rolloutLive(req.params.id, deps.clock());
    if (!first) throw new WfError('ROLLOUT_NOT_FOUND', req.params.id);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
    });
    const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      unsubscribe();
      raw.end();
    };
    const unsubscribe = watchers.subscribe(req.params.id, {
      snapshot: (view) => open && send('snapshot', view),
      heartbeat: () => open && raw.write(': ping\n\n'),
      end: (end) => {
        if (open) send('end', end);
        close();
      },
      close,
    });
    req.raw.on('close', close);
  });

  for (const action of ['pause', 'resume', 'approve', 'abort', 'rollback'] as const) {
    app.post<{ Params: { id: string } }>(`/v1/rollouts/:id/${action}`, async (req) => {
      await engine[action](req.params.id, req.actor);
      return engine.view(req.params.id);
    });
  }

  app.post<{ Params: { id: string }; Body: { authorization: string } }>(
    '/v1/rollouts/:id/authorizations',
    { schema: { body: { type: 'object', required: ['authorization'], additionalProperties: false, properties: { authorization: { type: 'string', maxLength: 1024 } } } } },
    async (req) => {
      await engine.authorize(req.params.id, base64Field(req.body.authorization, 'authorization'), req.actor);
      return engine.view(req.params.id);
    },
  );
}
