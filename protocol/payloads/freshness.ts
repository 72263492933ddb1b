// Freshness statement (protocol.md §3.6, TUF's timestamp role): a short-lived statement signed by
// the director key and re-signed periodically. A device that stops seeing a valid, newer one knows
// it is being kept from updates (a freeze) and reports `stale`.
import type { Signer } from '../cose.js';
import { WfError } from '../errors.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';
import { keyForRole, type KeyDocument } from './key-document.js';

export const FRESHNESS_STATEMENT_MAX_BYTES = 256;

export interface FreshnessStatement {
  /** Seconds; strictly increases from one statement to the next (devices refuse an older one). */
  issuedAt: number;
  expires: number;
}

export function signFreshness(s: FreshnessStatement, director: Signer): Uint8Array {
  return sealSigned(PAYLOAD_TYPE.freshness, [[2, s.issuedAt], [3, s.expires]], director);
}

/** Verify with a director key of `keys`; expiry and order are the caller's (device) checks. */
export function openFreshness(bytes: Uint8Array, keys: KeyDocument, now: number, skew = 0): FreshnessStatement {
  const { fields: f } = openSigned(bytes, {
    what: 'freshness statement',
    maxBytes: FRESHNESS_STATEMENT_MAX_BYTES,
    type: PAYLOAD_TYPE.freshness,
    keyFor: (kid) => keyForRole(keys, kid, 'director', now, skew),
  });
  const s: FreshnessStatement = { issuedAt: f.uint(2, 'issued_at'), expires: f.uint(3, 'expires') };
  f.done();
  if (s.expires < s.issuedAt) throw new WfError('CBOR_FIELD_INVALID', 'freshness statement.expires: before issued_at');
  return s;
}
