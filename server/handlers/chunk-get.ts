import { decodeChunkRequest } from '../../protocol/messages.js';
import { deviceTopic } from '../../protocol/topics.js';
import { chunkResponse, refuseChunk, requestedImage } from './chunk-answers.js';
import type { TopicHandler } from './context.js';

/**
 * chunk/get: serve one chunk of an image the device was told to fetch. The device paces itself
 * (docs/protocol.md §5), so the server answers each request once and keeps no per-download state.
 */
export const onChunkGet: TopicHandler = async (ctx, deviceId, payload) => {
  const req = decodeChunkRequest(payload);
  if (!ctx.rates.allowChunk(deviceId, req.chunkSize)) return;
  const blob = await requestedImage(ctx, deviceId, req);
  if (typeof blob === 'string') return refuseChunk(ctx, deviceId, req, blob);
  ctx.publish(deviceTopic(deviceId, 'chunk'), chunkResponse(blob, req.sha256, req.index, req.chunkSize), { qos: 0 });
};
