import { toHex } from '../../protocol/crypto.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { decodeChunkRequest, encodeChunkResponse } from '../../protocol/messages.js';
import { deviceTopic } from '../../protocol/topics.js';
import { chunkResponse } from './chunk-answers.js';
import type { TopicHandler } from './context.js';

/**
 * chunk/get: serve one chunk of an image the device was told to fetch. The device paces itself
 * (docs/protocol.md §5), so the server answers each request once and keeps no per-download state.
 */
export const onChunkGet: TopicHandler = async (ctx, deviceId, payload) => {
  const req = decodeChunkRequest(payload);
  if (!ctx.rates.allowChunk(deviceId, req.chunkSize)) return;
  const topic = deviceTopic(deviceId, 'chunk');
  const refuse = (error: ErrorCode) => ctx.publish(topic, encodeChunkResponse({ sha256: req.sha256, index: req.index, error }), { qos: 0 });

  // Only images named by this device's own directives: a device cannot browse the registry.
  const hex = toHex(req.sha256);
  const blob = (await ctx.directives.mayFetch(deviceId, hex)) ? await ctx.blobs.get(hex) : undefined;
  if (!blob) return refuse('CHUNK_UNKNOWN_BLOB');
  if (req.index * req.chunkSize >= blob.length) return refuse('CHUNK_INVALID');
  ctx.publish(topic, chunkResponse(blob, req.sha256, req.index, req.chunkSize), { qos: 0 });
};
