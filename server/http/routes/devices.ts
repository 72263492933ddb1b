import type { FastifyInstance } from 'fastify';
import { audit } from '../../store/db.js';
import { addDevice, addToBroker, revokeDevice, rotateCredentials, type IssuedCredentials } from '../../services/credentials.js';
import { WfError } from '../../../protocol/errors.js';
import type { DeviceHistoryView, TelemetryView } from '../../../protocol/views.js';
import { HOST_KINDS } from '../../store/console-queries.js';
import { DEVICE_EVENTS_KEEP } from '../../store/device-events.js';
import type { ApiDeps } from '../app.js';

interface DevicePageQuery {
  limit?: string;
  cursor?: string;
  q?: string;
  tag?: string | string[];
  state?: string;
  release?: string;
  host?: (typeof HOST_KINDS)[number];
  online?: 'true' | 'false';
}

const tagParam = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}=.{0,128}$' } as const;
const devicePageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
    cursor: { type: 'string', minLength: 1, maxLength: 64 },
    q: { type: 'string', minLength: 1, maxLength: 64 },
    tag: { anyOf: [tagParam, { type: 'array', items: tagParam, maxItems: 8 }] },
    state: { type: 'string', minLength: 1, maxLength: 16 },
    release: { type: 'string', minLength: 3, maxLength: 100 },
    host: { enum: [...HOST_KINDS] },
    online: { enum: ['true', 'false'] },
  },
} as const;

/** tag=k=v (repeatable) → { k: v }; every pair must match. */
function tagFilter(tag: string | string[] | undefined): Record<string, string> | undefined {
  if (tag === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const t of Array.isArray(tag) ? tag : [tag]) {
    const eq = t.indexOf('=');
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

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

  // Without `limit`: every device (the CLI's form). With it: one page of the console's table
  // (docs/console.md), filtered and counted on the server.
  app.get<{ Querystring: DevicePageQuery }>('/v1/devices', { schema: { querystring: devicePageQuery } }, async (req) => {
    const q = req.query;
    if (q.limit === undefined) {
      if (Object.keys(q).length > 0) throw new WfError('REQUEST_INVALID', 'querystring: filters and cursor need limit (1-200)');
      return { devices: await deps.devices.list() };
    }
    const limit = Number(q.limit);
    if (limit < 1 || limit > 200) throw new WfError('REQUEST_INVALID', `querystring/limit ${limit}: 1-200`);
    return deps.queries.devicePage(
      {
        q: q.q,
        tags: tagFilter(q.tag),
        state: q.state,
        release: q.release,
        host: q.host,
        online: q.online === undefined ? undefined : q.online === 'true',
      },
      q.cursor,
      limit,
    );
  });

  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    '/v1/devices/:id/history',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$' } } } } },
    async (req): Promise<DeviceHistoryView> => {
      await deps.devices.require(req.params.id);
      const limit = Math.min(200, Math.max(1, Number(req.query.limit ?? DEVICE_EVENTS_KEEP)));
      return { events: await deps.deviceEvents.history(req.params.id, limit), keep: DEVICE_EVENTS_KEEP };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/devices/:id/telemetry', async (req): Promise<TelemetryView> => {
    await deps.devices.require(req.params.id);
    return { latest: await deps.devices.telemetry(req.params.id), series: await deps.series.of(req.params.id), bucketMs: deps.series.o.bucketMs, keep: deps.series.o.keep };
  });

  app.get<{ Params: { id: string } }>('/v1/devices/:id', async (req) => {
    const device = await deps.devices.require(req.params.id);
    return { ...device, telemetry: await deps.devices.telemetry(device.id), commits: await deps.devices.commits(device.id) };
  });
}
