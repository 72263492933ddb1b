// Shared steps for every signed payload: parse the envelope, find the signing key, verify,
// then decode the payload map. Order matters (docs/protocol.md §4): no payload field is trusted,
// or even parsed, before its signature verifies.
import { decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { parseSign1, signSign1, verifySign1, type Sign1, type Signer } from './cose.js';
import { WfError } from './errors.js';
import { MapReader } from './fields.js';

export interface OpenOptions {
  what: string;
  maxBytes: number;
  type: number;
  /** Return the public key for this kid, or throw the precise reason it is not acceptable. */
  keyFor(kid: Uint8Array): Uint8Array;
}

export interface Opened {
  envelope: Sign1;
  fields: MapReader;
}

export function openSigned(bytes: Uint8Array, opts: OpenOptions): Opened {
  const envelope = parseSign1(bytes, opts.what, opts.maxBytes);
  const publicKey = opts.keyFor(envelope.kid);
  if (!verifySign1(envelope, publicKey)) throw new WfError('COSE_BAD_SIGNATURE', opts.what);
  const payload = decodeCbor(envelope.payload, { what: `${opts.what} payload`, maxBytes: opts.maxBytes });
  const fields = MapReader.of(payload, opts.what);
  fields.header(opts.type);
  return { envelope, fields };
}

/** Encode a payload map (type and format first) and sign it. */
export function sealSigned(type: number, body: Array<[number, CborValue]>, signer: Signer): Uint8Array {
  const payload = encodeCbor(new Map<number, CborValue>([[0, type], [1, 1], ...body]));
  return signSign1(payload, signer);
}

export const PAYLOAD_TYPE = {
  keyDocument: 1,
  releaseManifest: 2,
  directive: 3,
  rollback: 4,
  rootLink: 5,
  freshness: 6,
} as const;
