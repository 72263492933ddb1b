// COSE_Sign1 (RFC 9052 §4.2) with Ed25519, as profiled in docs/protocol.md §2.
import { decodeCbor, encodeCbor, Tag, type CborValue } from './cbor.js';
import { keyId, signEd25519, toHex, verifyEd25519 } from './crypto.js';
import { WfError } from './errors.js';

export const COSE_SIGN1_TAG = 18;
export const ALG_EDDSA = -8;
export const ALG_ED25519 = -19; // RFC 9864 fully specified Ed25519
const HEADER_ALG = 1;
const HEADER_KID = 4;
export const KID_LENGTH = 8;
const TAG18_HEAD = 0xd2;

export interface Signer {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export interface Sign1 {
  /** The protected header bytes exactly as received: the signature covers these. */
  protectedBytes: Uint8Array;
  alg: number;
  kid: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
}

/** Sig_structure for COSE_Sign1 with empty external AAD (RFC 9052 §4.4). */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, new Uint8Array(0), payload]);
}

// The protected header depends only on the key and the algorithm: the server signs a directive
// per device with one director key, so it is encoded once per key (bounded: keys are few).
const protectedHeaders = new Map<string, Uint8Array>();
const PROTECTED_HEADERS_MAX = 64;

function protectedHeader(publicKey: Uint8Array, alg: number): Uint8Array {
  const id = `${alg}:${toHex(publicKey)}`;
  let bytes = protectedHeaders.get(id);
  if (!bytes) {
    if (protectedHeaders.size >= PROTECTED_HEADERS_MAX) protectedHeaders.clear();
    bytes = encodeCbor(
      new Map<number, CborValue>([
        [HEADER_ALG, alg],
        [HEADER_KID, keyId(publicKey)],
      ]),
    );
    protectedHeaders.set(id, bytes);
  }
  return bytes;
}

export function signSign1(payload: Uint8Array, signer: Signer, alg: number = ALG_EDDSA): Uint8Array {
  // Shared between signatures: only read (encoded into the envelope), never handed out to change.
  const protectedBytes = protectedHeader(signer.publicKey, alg);
  const signature = signEd25519(sigStructure(protectedBytes, payload), signer.seed);
  return encodeCbor(new Tag([protectedBytes, new Map(), payload, signature], COSE_SIGN1_TAG));
}

/** Strictly parse a COSE_Sign1; does not verify. `what` names the message in errors. */
export function parseSign1(bytes: Uint8Array, what: string, maxBytes: number): Sign1 {
  if (bytes.length > maxBytes) throw new WfError('CBOR_TOO_LARGE', `${what}: ${bytes.length} bytes, limit ${maxBytes}`);
  // Tag 18 is the single head byte 0xd2. Reading it here rather than through cbor-x's tag
  // registry keeps us independent of extensions other libraries register for tag 18.
  if (bytes.length === 0 || bytes[0] !== TAG18_HEAD) {
    decodeCbor(bytes, { what, maxBytes }); // report broken CBOR (empty input included) as such, as the C host does
    throw new WfError('COSE_MALFORMED', `${what}: expected CBOR tag 18 (COSE_Sign1)`);
  }
  const parts = decodeCbor(bytes.subarray(1), { what, maxBytes }) as unknown;
  if (!Array.isArray(parts) || parts.length !== 4) throw new WfError('COSE_MALFORMED', `${what}: expected a 4-element array`);
  const [protectedBytes, unprotected, payload, signature] = parts as CborValue[];
  if (!(protectedBytes instanceof Uint8Array)) throw new WfError('COSE_MALFORMED', `${what}: protected header must be a byte string`);
  if (!(unprotected instanceof Map) || unprotected.size !== 0) {
    throw new WfError('COSE_MALFORMED', `${what}: unprotected header must be an empty map`);
  }
  if (!(payload instanceof Uint8Array)) throw new WfError('COSE_MALFORMED', `${what}: payload must be a byte string`);
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new WfError('COSE_MALFORMED', `${what}: signature must be 64 bytes`);
  }
  const header = decodeCbor(protectedBytes, { what: `${what} protected header`, maxBytes: 64 });
  if (!(header instanceof Map) || header.size !== 2) {
    throw new WfError('COSE_MALFORMED', `${what}: protected header must be {1: alg, 4: kid}`);
  }
  const alg = header.get(HEADER_ALG);
  const kid = header.get(HEADER_KID);
  if (alg !== ALG_EDDSA && alg !== ALG_ED25519) throw new WfError('COSE_BAD_ALG', `${what}: alg ${String(alg)}`);
  if (!(kid instanceof Uint8Array) || kid.length !== KID_LENGTH) {
    throw new WfError('COSE_MALFORMED', `${what}: kid must be ${KID_LENGTH} bytes`);
  }
  const own = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.length);
  return { protectedBytes: own(protectedBytes), alg, kid: own(kid), payload: own(payload), signature: own(signature) };
}

export function verifySign1(msg: Sign1, publicKey: Uint8Array): boolean {
  return verifyEd25519(sigStructure(msg.protectedBytes, msg.payload), msg.signature, publicKey);
}
