// A bounded memo of signature verification results, for a process that checks the same signed
// bytes many times: the simulator runs 1,000 devices in one process, and each of them verifies the
// same key document and the same release manifest (docs/device-sim.md, "Signature memo").
// A verification is a pure function of (public key, signature, message); the memo is keyed by all
// three exactly (not by a digest), so it answers only for bytes it has seen verified, with the
// answer the verification gave. Every check around the signature (which key, its role and
// expiry, device, sequence, expiry of the payload...) runs each time as before.

import { BoundedMap } from './bounded-map.js';

/** Messages longer than this are verified every time: the memo keeps its keys small. */
export const MEMO_MAX_MESSAGE_BYTES = 8192;

export class VerifyMemo {
  private readonly results: BoundedMap<string, boolean>;
  hits = 0;
  misses = 0;

  constructor(maxEntries = 256) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.results = new BoundedMap(maxEntries);
  }

  get size(): number {
    return this.results.size;
  }

  /** The result of `verify(message, signature, publicKey)`, computed once per exact input. */
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array, verify: (m: Uint8Array, s: Uint8Array, k: Uint8Array) => boolean): boolean {
    if (message.length > MEMO_MAX_MESSAGE_BYTES) return verify(message, signature, publicKey);
    // Lengths first, so no two different inputs concatenate to the same key.
    const key = `${publicKey.length}:${signature.length}:${latin1(publicKey)}${latin1(signature)}${latin1(message)}`;
    const known = this.results.get(key);
    if (known !== undefined) {
      this.hits++;
      return known;
    }
    this.misses++;
    return this.results.set(key, verify(message, signature, publicKey));
  }

  clear(): void {
    this.results.clear();
  }
}

/** One char per byte: a byte-exact string key. */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}
