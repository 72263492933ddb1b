// wasmfleet keys renew: the same keys in a new key document (serial + 1) with a new expiry, signed
// by the root. Works on an expired document too (the server refuses to start on one).
import { KEY_FILES, writeFileAtomic } from '../../protocol/keyfiles.js';
import { DEFAULT_VALID_YEARS, loadCurrentKeys, nextKeyDocument, sign } from './keys-document.js';

export interface RenewResult {
  serial: number;
  expires: number;
  keys: number;
}

export function renewKeys(dir: string, validYears = DEFAULT_VALID_YEARS, now = Math.floor(Date.now() / 1000)): RenewResult {
  const { root, doc } = loadCurrentKeys(dir);
  const next = nextKeyDocument(doc, doc.keys, now, validYears);
  writeFileAtomic(KEY_FILES.keyDocument(dir), sign(next, root), 0o644, true);
  return { serial: next.serial, expires: next.expires, keys: next.keys.length };
}
