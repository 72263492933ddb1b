// Key document (protocol.md §3.1): which keys hold which role, signed by the offline root key.
import type { CborValue } from '../cbor.js';
import type { Signer } from '../cose.js';
import { bytesEqual, keyId } from '../crypto.js';
import { WfError } from '../errors.js';
import { MapReader } from '../fields.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';

export const KEY_ROLES = ['release', 'director'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];
export const KEYDOC_MAX_BYTES = 4096;

export interface KeyEntry {
  kid: Uint8Array;
  role: KeyRole;
  publicKey: Uint8Array;
  expires: number;
}

export interface KeyDocument {
  serial: number;
  issuedAt: number;
  expires: number;
  keys: KeyEntry[];
}

export function signKeyDocument(doc: KeyDocument, root: Signer): Uint8Array {
  return sealSigned(
    PAYLOAD_TYPE.keyDocument,
    [
      [2, doc.serial],
      [3, doc.issuedAt],
      [4, doc.expires],
      [5, doc.keys.map((k) => new Map<number, CborValue>([[1, k.kid], [2, k.role], [3, k.publicKey], [4, k.expires]]))],
    ],
    root,
  );
}

export interface KeyDocumentCheck {
  rootPublicKey: Uint8Array;
  /** Seconds since the epoch. */
  now: number;
  /** The serial the verifier already trusts; an older document is refused. */
  minSerial?: number;
  /** Allowed clock skew in seconds for the expiry check. */
  skew?: number;
  /** Skip the expiry check: only for the root key holder renewing an expired document. */
  allowExpired?: boolean;
}

/** Verify a key document against the pinned root key and decode it. */
export function openKeyDocument(bytes: Uint8Array, check: KeyDocumentCheck): KeyDocument {
  const rootKid = keyId(check.rootPublicKey);
  const { fields: f } = openSigned(bytes, {
    what: 'key document',
    maxBytes: KEYDOC_MAX_BYTES,
    type: PAYLOAD_TYPE.keyDocument,
    keyFor(kid) {
      if (!bytesEqual(kid, rootKid)) throw new WfError('COSE_UNKNOWN_KID', 'key document is not signed by the pinned root key');
      return check.rootPublicKey;
    },
  });
  const doc: KeyDocument = {
    serial: f.uint(2, 'serial', { min: 1 }),
    issuedAt: f.uint(3, 'issued_at'),
    expires: f.uint(4, 'expires'),
    keys: f.array(5, 'keys', { min: 1, max: 16 }).map((entry, i) => readKeyEntry(entry, i)),
  };
  f.done();
  if (!check.allowExpired && doc.expires + (check.skew ?? 0) <= check.now) throw new WfError('KEYDOC_EXPIRED', `expired at ${doc.expires}`);
  if (check.minSerial !== undefined && doc.serial < check.minSerial) {
    throw new WfError('KEYDOC_ROLLBACK', `serial ${doc.serial} < stored ${check.minSerial}`);
  }
  return doc;
}

function readKeyEntry(value: CborValue, index: number): KeyEntry {
  const f = MapReader.of(value, `key document.keys[${index}]`);
  const entry: KeyEntry = {
    kid: f.bytes(1, 'kid', { exact: 8 }),
    role: f.text(2, 'role', { max: 16 }) as KeyRole,
    publicKey: f.bytes(3, 'public_key', { exact: 32 }),
    expires: f.uint(4, 'expires'),
  };
  f.done();
  if (!KEY_ROLES.includes(entry.role)) throw new WfError('CBOR_FIELD_INVALID', `key document.keys[${index}].role: "${entry.role}"`);
  if (!bytesEqual(entry.kid, keyId(entry.publicKey))) throw new WfError('KEYDOC_KID_MISMATCH', `keys[${index}]`);
  return entry;
}

/** The public key for `kid` if it holds `role` and has not expired; otherwise the precise reason. */
export function keyForRole(doc: KeyDocument, kid: Uint8Array, role: KeyRole, now: number, skew = 0): Uint8Array {
  const entry = doc.keys.find((k) => bytesEqual(k.kid, kid));
  if (!entry) throw new WfError('COSE_UNKNOWN_KID', `kid ${Buffer.from(kid).toString('hex')}`);
  if (entry.role !== role) throw new WfError('COSE_WRONG_ROLE', `kid ${Buffer.from(kid).toString('hex')} is a ${entry.role} key, expected ${role}`);
  if (entry.expires + skew <= now) throw new WfError('KEY_EXPIRED', `${role} key expired at ${entry.expires}`);
  return entry.publicKey;
}

