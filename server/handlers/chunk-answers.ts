// What chunk/get (one device's answer) and chunk/stream (the image topic's carousel) share: which
// image a request may read, the refusal on the device's own chunk topic, and the encoded answers.
import { toHex } from '../../protocol/crypto.js';
import type { ErrorCode } from '../../protocol/errors.js';
import { encodeChunkResponse, type ChunkRequest } from '../../protocol/messages.js';
import { deviceTopic } from '../../protocol/topics.js';
import type { HandlerContext } from './context.js';

/**
 * The image a chunk request may read, or why not: only images named by this device's own
 * directives (a device cannot browse the registry), and an index inside the image.
 */
export async function requestedImage(ctx: HandlerContext, deviceId: string, req: ChunkRequest): Promise<Uint8Array | ErrorCode> {
  const hex = toHex(req.sha256);
  const blob = (await ctx.directives.mayFetch(deviceId, hex)) ? await ctx.blobs.get(hex) : undefined;
  if (!blob) return 'CHUNK_UNKNOWN_BLOB';
  if (req.index * req.chunkSize >= blob.length) return 'CHUNK_INVALID';
  return blob;
}

/** A request the server cannot serve is answered with a reason code on the device's own chunk topic. */
export function refuseChunk(ctx: HandlerContext, deviceId: string, req: ChunkRequest, error: ErrorCode): void {
  ctx.publish(deviceTopic(deviceId, 'chunk'), encodeChunkResponse({ sha256: req.sha256, index: req.index, error }), { qos: 0 });
}

/**
 * Encoded chunk responses per blob: during a rollout a thousand devices ask for the same chunks,
 * and encoding each answer anew (CBOR canonical form, a 4 KiB copy) was most of the handler's
 * time. Keyed by the blob's bytes as the blob cache hands them out, so an entry lives as long as
 * its blob is cached; bounded per blob to twice its size (a device asking in many chunk sizes
 * gets answers encoded on the spot, not a growing cache).
 */
const encoded = new WeakMap<Uint8Array, { bytes: number; byKey: Map<string, Uint8Array> }>();

export function chunkResponse(blob: Uint8Array, sha256: Uint8Array, index: number, chunkSize: number): Uint8Array {
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
