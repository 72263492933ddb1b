import { toHex } from '../../protocol/crypto.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { decodeChunkRequest, encodeChunkResponse } from '../../protocol/messages.js';
import { deviceTopic } from '../../protocol/topics.js';
import type { TopicHandler } from './context.js';

/**
 * chunk/get: serve one chunk of an image the device was told to fetch. The device paces itself
 * (docs/protocol.md §5), so the server answers each request once and keeps no per-download state.
 */
export const onChunkGet: TopicHandler = async (ctx, deviceId, payload) => {
  const req = decodeChunkRequest(payload);
  if (!ctx.rates.allowChunk(deviceId, req.chunkSize)) return;
  const hex = toHex(req.sha256);
  const reply = (body: { data?: Uint8Array; error?: ErrorCode }) =>
    ctx.publish(deviceTopic(deviceId, 'chunk'), encodeChunkResponse({ sha256: req.sha256, index: req.index, ...body }), { qos: 0 });

  // Only images named by this device's own directives: a device cannot browse the registry.
  const blob = (await ctx.directives.mayFetch(deviceId, hex)) ? await ctx.blobs.get(hex) : undefined;
  if (!blob) return reply({ error: 'CHUNK_UNKNOWN_BLOB' });
  const start = req.index * req.chunkSize;
  if (start >= blob.length) return reply({ error: 'CHUNK_INVALID' });
  reply({ data: blob.subarray(start, Math.min(blob.length, start + req.chunkSize)) });
};
