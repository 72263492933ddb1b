import { toHex } from '../../protocol/crypto.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { decodeChunkRequest, encodeChunkResponse } from '../../protocol/messages.js';
import { deviceTopic } from '../../protocol/topics.js';
import type { TopicHandler } from './context.js';

/**
 * Encoded chunk responses per blob: during a rollout a thousand devices ask for the same chunks,
 * and encoding each answer anew (CBOR canonical form, a 4 KiB copy) was most of the handler's
 * time. Keyed by the blob's bytes as the blob cache hands them out, so an entry lives as long as
 * its blob is cached; bounded per blob to twice its size (a device asking in many chunk sizes
 * gets answers encoded on the spot, not a growing cache).
 */
const encoded = new WeakMap<Uint8Array, { bytes: number; byKey: Map<string, Uint8Array> }>();

function chunkResponse(blob: Uint8Array, sha256: Uint8Array, index: number, chunkSize: number): Uint8Array {
  let memo = encoded.get(blob);
  if (!memo) encoded.set(blob, (memo = { bytes: 0, byKey: new Map() }));
  const key = `${chunkSize}/${index}`;
  const hit = memo.byKey.get(key);
  if (hit) return hit;
  const start = index * chunkSize;
  const response = encodeChunkResponse({ sha256, index, data: blob.subarray(start, Math.min(blob.length, start + chunkSize)) });
  if (memo.bytes + response.length <= 2 * blob.length + 4096) {
    memo.byKey.set(key, response);
    memo.bytes += response.length;
  }
  return response;
}

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
