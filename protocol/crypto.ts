// Ed25519 and SHA-256. tweetnacl is the reference implementation; node:crypto gives identical
// signatures (Ed25519 is deterministic) some 40-60x faster, so hot paths use it and the tests
// cross-check the two. No primitive is implemented here.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { VerifyMemo } from './verify-memo.js';

export interface Ed25519KeyPair {
  /** 32-byte seed: the whole secret. */
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function generateKeyPair(): Ed25519KeyPair {
  return keyPairFromSeed(nacl.randomBytes(32));
}

export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new RangeError('Ed25519 seed must be 32 bytes');
  const kp = nacl.sign.keyPair.fromSeed(seed);
  return { seed: new Uint8Array(seed), publicKey: kp.publicKey };
}

// DER wrappers that let node:crypto take raw Ed25519 keys (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Key objects are cached: parsing DER on every verification would dominate the hot path.
const privateCache = new Map<string, KeyObject>();
const publicCache = new Map<string, KeyObject>();
const CACHE_LIMIT = 1024;

function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const id = Buffer.from(raw).toString('hex');
  let key = cache.get(id);
  if (!key) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    key = make();
    cache.set(id, key);
  }
  return key;
}

export function signEd25519(message: Uint8Array, seed: Uint8Array): Uint8Array {
  const key = cached(privateCache, seed, () =>
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
  );
  return new Uint8Array(nodeSign(null, message, key));
}

/** L, the order of the Ed25519 base point (RFC 8032 §5.1), little-endian as signatures store s. */
const ED25519_L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

/**
 * RFC 8032 §5.1.7: a signature whose scalar s is not below L must be refused. Without this check
 * (R, s + L) verifies wherever (R, s) does — a second valid signature for the same message that
 * tweetnacl accepts and node:crypto and libsodium refuse. Every verify path applies it first.
 */
export function signatureScalarIsCanonical(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i];
    if (s !== ED25519_L[i]) return s < ED25519_L[i];
  }
  return false; // s == L
}

// Off unless a process turns it on (the simulator's fleet: many devices, the same signed bytes).
let memo: VerifyMemo | null = null;

/**
 * Remember Ed25519 results process-wide, keyed by the exact (message, signature, public key):
 * `maxEntries` > 0 turns it on (again: a fresh memo), 0 turns it off. Returns the memo, for its
 * counters. docs/device-sim.md ("Signature memo") says why no verdict changes.
 */
export function memoizeEd25519Verify(maxEntries: number): VerifyMemo | null {
  memo = maxEntries > 0 ? new VerifyMemo(maxEntries) : null;
  return memo;
}

export function verifyEd25519(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return memo ? memo.verify(message, signature, publicKey, verifyOnce) : verifyOnce(message, signature, publicKey);
}

function verifyOnce(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (!signatureScalarIsCanonical(signature)) return false;
  let key: KeyObject;
  try {
    key = cached(publicCache, publicKey, () =>
      createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }),
    );
  } catch {
    return false; // not a valid curve point
  }
  return nodeVerify(null, message, key, signature);
}

/** The reference path, used by tests to cross-check the fast one. */
export const tweetnaclEd25519 = {
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
    return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey);
  },
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    return signatureScalarIsCanonical(signature) && nacl.sign.detached.verify(message, signature, publicKey);
  },
};

/** Key id: the first 8 bytes of SHA-256 over the raw public key (protocol.md §2). */
export function keyId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, 8);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new RangeError('not a hex string');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
