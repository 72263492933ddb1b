import type { FastifyInstance } from 'fastify';
import { deploy } from '../../services/deploy.js';
import { executeRollback, planRollback } from '../../services/rollback.js';
import { listDeployments } from '../../store/deployments.js';
import type { ApiDeps } from '../app.js';
import { base64Field } from '../errors.js';

const selector = {
  devices: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 100000 },
  tags: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 32 },
} as const;

export function deploymentRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{
    Body: { module: string; version: string; devices?: string[]; tags?: Record<string, string>; config?: Record<string, string>; rollbacks?: Record<string, string> };
  }>(
    '/v1/deployments',
    {
      schema: {
        body: {
          type: 'object',
          required: ['module', 'version'],
          additionalProperties: false,
          properties: {
            module: { type: 'string', minLength: 1, maxLength: 64 },
            version: { type: 'string', minLength: 1, maxLength: 32 },
            ...selector,
            config: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 32 },
            rollbacks: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 } },
          },
        },
      },
    },
    async (req, reply) => {
      const rollbacks = Object.fromEntries(Object.entries(req.body.rollbacks ?? {}).map(([k, v]) => [k, base64Field(v, `rollbacks/${k}`)]));
      const result = await deploy(deps, { ...req.body, rollbacks, actor: req.actor });
      return reply.status(201).send({ deployment: result.deployment, module: result.module, devices: result.devices });
    },
  );

  app.get('/v1/deployments', async () => ({ deployments: await listDeployments(deps.sql) }));

  const rollbackBody = {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...selector,
      to: { type: 'string', minLength: 1, maxLength: 32 },
      authorizations: { type: 'array', items: { type: 'string', maxLength: 1024 }, maxItems: 64 },
    },
  } as const;
  type RollbackBody = { devices?: string[]; tags?: Record<string, string>; to?: string; authorizations?: string[] };

  app.post<{ Body: RollbackBody }>('/v1/rollbacks/plan', { schema: { body: rollbackBody } }, async (req) => planRollback(deps, req.body, req.body.to));

  app.post<{ Body: RollbackBody }>('/v1/rollbacks', { schema: { body: rollbackBody } }, async (req, reply) => {
    const auths = (req.body.authorizations ?? []).map((a, i) => base64Field(a, `authorizations/${i}`));
    const result = await executeRollback(deps, req.body, req.body.to, auths, req.actor);
    return reply.status(201).send({
      deployments: result.deployments.map((r) => ({ deployment: r.deployment, module: r.module, devices: r.devices })),
      skipped: result.skipped,
    });
  });
}
