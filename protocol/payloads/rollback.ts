// Rollback authorization (protocol.md §3.4): the operator's release key allows one component to go
// back to one exact manifest. The server cannot make this, so a compromised server cannot downgrade.
import type { Signer } from '../cose.js';
import { bytesEqual } from '../crypto.js';
import { WfError } from '../errors.js';
import { PATTERNS } from '../fields.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';
import { keyForRole, type KeyDocument } from './key-document.js';

export const ROLLBACK_MAX_BYTES = 512;

export interface RollbackAuthorization {
  component: string;
  target: Uint8Array;
  issuedAt: number;
  expires: number;
}

export function signRollback(r: RollbackAuthorization, releaseKey: Signer): Uint8Array {
  return sealSigned(PAYLOAD_TYPE.rollback, [[2, r.component], [3, r.target], [4, r.issuedAt], [5, r.expires]], releaseKey);
}

export function openRollback(bytes: Uint8Array, keys: KeyDocument, now: number, skew = 0): RollbackAuthorization {
  const { fields: f } = openSigned(bytes, {
    what: 'rollback authorization',
    maxBytes: ROLLBACK_MAX_BYTES,
    type: PAYLOAD_TYPE.rollback,
    keyFor: (kid) => keyForRole(keys, kid, 'release', now, skew),
  });
  const r: RollbackAuthorization = {
    component: f.text(2, 'component', { max: 64, pattern: PATTERNS.component }),
    target: f.bytes(3, 'target', { exact: 32 }),
    issuedAt: f.uint(4, 'issued_at'),
    expires: f.uint(5, 'expires'),
  };
  f.done();
  return r;
}

/** Throw ROLLBACK_INVALID unless `r` allows `component` to move to `manifestDigest` now. */
export function checkRollbackCovers(r: RollbackAuthorization, component: string, manifestDigest: Uint8Array, now: number, skew = 0): void {
  if (r.component !== component) throw new WfError('ROLLBACK_INVALID', `it is for component "${r.component}"`);
  if (!bytesEqual(r.target, manifestDigest)) throw new WfError('ROLLBACK_INVALID', 'it names another release');
  if (r.expires + skew <= now) throw new WfError('ROLLBACK_INVALID', `it expired at ${r.expires}`);
}
