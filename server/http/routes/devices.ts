import type { FastifyInstance } from 'fastify';
import { audit } from '../../store/db.js';
import { addDevice, addToBroker, revokeDevice, rotateCredentials, type IssuedCredentials } from '../../services/credentials.js';
import type { ApiDeps } from '../app.js';

const tags = { type: 'object', additionalProperties: { type: 'string', maxLength: 128 }, maxProperties: 32 } as const;
const newDevice = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 }, tags },
} as const;
// A PEM certificate signing request of a P-256 key is about 500 bytes.
const csr = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const newDeviceWithCsr = { ...newDevice, properties: { ...newDevice.properties, csr } } as const;

export function deviceRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const withConnection = (c: IssuedCredentials) => ({
    ...c,
    mqttUrl: deps.publicMqttUrl(),
    rootPublicKey: Buffer.from(deps.trust().rootPublicKey).toString('hex'),
    // The CA a device trusts the broker with (public; absent in clear text).
    ...(deps.credentials.caPem ? { caCertificate: deps.credentials.caPem } : {}),
  });

  app.post<{ Body: { id: string; tags?: Record<string, string>; csr?: string } }>('/v1/devices', { schema: { body: newDeviceWithCsr } }, async (req, reply) => {
    const creds = await addDevice(deps.credentials, req.body, req.actor);
    deps.engine.deviceChanged(creds.id, 'new');
    return reply.status(201).send(withConnection(creds));
  });

  app.post<{ Params: { id: string } }>('/v1/devices/:id/revoke', async (req) => revokeDevice(deps.credentials, req.params.id, req.actor));

  app.post<{ Params: { id: string }; Body: { csr?: string } }>(
    '/v1/devices/:id/credentials',
    { schema: { body: { type: 'object', additionalProperties: false, properties: { csr } } } },
    async (req) => withConnection(await rotateCredentials(deps.credentials, req.params.id, req.body?.csr, req.actor)),
  );

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
      const created = await deps.devices.create(req.body.devices);
      for (const c of created) deps.engine.deviceChanged(c.id, 'new');
      await audit(deps.sql, 'device.add', { devices: created.map((c) => c.id) }, { actor: req.actor });
      await addToBroker(deps.credentials, created);
      return reply.status(201).send({ devices: created.map(withConnection) });
    },
  );

  app.put<{ Params: { id: string }; Body: { tags: Record<string, string> } }>(
    '/v1/devices/:id/tags',
    { schema: { body: { type: 'object', required: ['tags'], additionalProperties: false, properties: { tags } } } },
    async (req) => {
      await deps.devices.setTags(req.params.id, req.body.tags);
      deps.engine.deviceChanged(req.params.id, 'tags');
      return deps.devices.require(req.params.id);
    },
  );

  app.get('/v1/devices', async () => ({ devices: await deps.devices.list() }));

  app.get<{ Params: { id: string } }>('/v1/devices/:id', async (req) => {
    const device = await deps.devices.require(req.params.id);
    return { ...device, telemetry: await deps.devices.telemetry(device.id), commits: await deps.devices.commits(device.id) };
  });
}
