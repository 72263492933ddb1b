import type { FastifyInstance } from 'fastify';
import { WfError } from '../../../protocol/errors.js';
import { publishModule } from '../../services/publish.js';
import type { ApiDeps } from '../app.js';
import { base64Field } from '../errors.js';

export function moduleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Body: { manifest: string; module: string } }>(
    '/v1/modules',
    {
      // base64 grows bytes by 4/3; the module bound itself is checked on the decoded bytes.
      bodyLimit: Math.ceil((deps.maxModuleBytes * 4) / 3) + 64 * 1024,
      schema: {
        body: {
          type: 'object',
          required: ['manifest', 'module'],
          additionalProperties: false,
          properties: { manifest: { type: 'string', maxLength: 4096 }, module: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (req, reply) => {
      const result = await publishModule(deps, base64Field(req.body.manifest, 'manifest'), base64Field(req.body.module, 'module'), req.actor);
      return reply.status(result.created ? 201 : 200).send({ ...result.module, created: result.created });
    },
  );

  // What the server accepts, so the CLI refuses an oversized upload with the server's own limit
  // before sending megabytes the server would cut off (which clients see as EPIPE, not as 413).
  app.get('/v1/limits', async () => ({ maxModuleBytes: deps.maxModuleBytes }));

  app.get('/v1/modules', async () => ({ modules: await deps.modules.list() }));

  app.get<{ Params: { name: string; version: string } }>('/v1/modules/:name/:version', async (req) => deps.modules.require(req.params.name, req.params.version));

  // The signed release exactly as published (the body POST /v1/modules takes): a rehearsal
  // republishes it into its twin server, so the twin runs the real signed bytes.
  app.get<{ Params: { name: string; version: string } }>('/v1/modules/:name/:version/release', async (req) => {
    const m = await deps.modules.require(req.params.name, req.params.version);
    const image = await deps.blobs.get(m.sha256);
    if (!image) throw new WfError('CHUNK_UNKNOWN_BLOB', `${m.name}@${m.version}: image ${m.sha256.slice(0, 12)}… missing from the blob store`);
    return {
      manifest: Buffer.from(await deps.modules.manifestBytes(m.name, m.version)).toString('base64'),
      module: Buffer.from(image).toString('base64'),
    };
  });
}
