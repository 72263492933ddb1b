// Encoded chunk responses, shared by chunk/get (one device's answer) and chunk/stream (the image
// topic's carousel): the same bytes, encoded once.
import { encodeChunkResponse } from '../../protocol/messages.js';

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
