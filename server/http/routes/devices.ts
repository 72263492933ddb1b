import type { FastifyInstance } from 'fastify';
import { audit } from '../../store/db.js';
import type { ApiDeps } from '../app.js';

const tags = { type: 'object', additionalProperties: { type: 'string', maxLength: 128 }, maxProperties: 32 } as const;
const newDevice = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 }, tags },
} as const;

export function deviceRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const withConnection = (c: { id: string; username: string; password: string }) => ({
    ...c,
    mqttUrl: deps.publicMqttUrl(),
    rootPublicKey: Buffer.from(deps.trust().rootPublicKey).toString('hex'),
  });

  app.post<{ Body: { id: string; tags?: Record<string, string> } }>('/v1/devices', { schema: { body: newDevice } }, async (req, reply) => {
    const [creds] = deps.devices.create([req.body]);
    deps.engine.deviceChanged(creds.id, 'new');
    audit(deps.db, 'device.add', { devices: [creds.id] }, { actor: req.actor });
    return reply.status(201).send(withConnection(creds));
  });

  app.post<{ Body: { devices: Array<{ id: string; tags?: Record<string, string> }> } }>(
    '/v1/devices/batch',
    {
      schema: {
        body: {
          type: 'object',
          required: ['devices'],
          additionalProperties: false,
          properties: { devices: { type: 'array', minItems: 1, maxItems: 10000, items: newDevice } },
        },
      },
    },
    async (req, reply) => {
      const created = deps.devices.create(req.body.devices);
      for (const c of created) deps.engine.deviceChanged(c.id, 'new');
      audit(deps.db, 'device.add', { devices: created.map((c) => c.id) }, { actor: req.actor });
      return reply.status(201).send({ devices: created.map(withConnection) });
    },
  );

  app.put<{ Params: { id: string }; Body: { tags: Record<string, string> } }>(
    '/v1/devices/:id/tags',
    { schema: { body: { type: 'object', required: ['tags'], additionalProperties: false, properties: { tags } } } },
    async (req) => {
      deps.devices.setTags(req.params.id, req.body.tags);
      deps.engine.deviceChanged(req.params.id, 'tags');
      return deps.devices.require(req.params.id);
    },
  );

  app.get('/v1/devices', async () => ({ devices: deps.devices.list() }));

  app.get<{ Params: { id: string } }>('/v1/devices/:id', async (req) => {
    const device = deps.devices.require(req.params.id);
    return { ...device, telemetry: deps.devices.telemetry(device.id), commits: deps.devices.commits(device.id) };
  });
}
