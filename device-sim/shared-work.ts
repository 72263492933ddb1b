// Work that a thousand simulated devices in one process would each repeat on the same input:
// pure functions of their inputs, computed once per process and remembered (bounded). What
// depends on the device (its grants, its state) is never remembered here: callers check it
// each time. docs/device-sim.md ("Shared work") lists what is shared and why no verdict changes.
import { BoundedMap } from '../protocol/bounded-map.js';
import { toHex } from '../protocol/crypto.js';
import { encodeChunkRequest, type ChunkRequest } from '../protocol/messages.js';
import { checkAbi, inspectWasm, type AbiCheck } from '../protocol/wasm-inspect.js';

const abiByDigest = new BoundedMap<string, Readonly<AbiCheck>>(64);

/**
 * The ABI check of a module image (WebAssembly.validate, imports and exports against ABI v1).
 * `sha256Hex` must be the SHA-256 of `bytes` as the caller just computed it (the slot's digest
 * check): the result of an earlier device's check of the same bytes is reused. A module that
 * fails the check is not remembered (it throws again, each time).
 */
export function abiOfImage(bytes: Uint8Array, sha256Hex: string): Readonly<AbiCheck> {
  return abiByDigest.get(sha256Hex) ?? abiByDigest.set(sha256Hex, Object.freeze(checkAbi(inspectWasm(bytes))));
}

const requests = new BoundedMap<string, Uint8Array>(4096);

/** A chunk request's bytes: every device fetching an image asks for the same chunks. */
export function chunkRequestBytes(r: ChunkRequest): Uint8Array {
  const key = `${toHex(r.sha256)}/${r.index}/${r.chunkSize}`;
  return requests.get(key) ?? requests.set(key, encodeChunkRequest(r));
}
