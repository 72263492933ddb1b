// Shared by "keys renew" and "keys rotate": open the current key document with the root key (even
// when it has expired: renewing it is the point), and sign its successor (serial + 1) with a fresh
// expiry for the document and every key in it.
import { WfError } from '../../protocol/errors.js';
import { readKeyDocumentFile, readKeyPair, readProvisionedRoot, readRootChain } from '../../protocol/keyfiles.js';
import { bytesEqual, type Ed25519KeyPair } from '../../protocol/crypto.js';
import { openKeyDocument, signKeyDocument, type KeyDocument, type KeyEntry } from '../../protocol/payloads/key-document.js';
import { walkRootChain, type RootState } from '../../protocol/payloads/root-chain.js';

export const YEAR = 365 * 86400;
export const DEFAULT_VALID_YEARS = 2;

export interface CurrentKeys {
  root: Ed25519KeyPair;
  rootState: RootState;
  chain: Uint8Array[];
  doc: KeyDocument;
}

export function loadCurrentKeys(dir: string): CurrentKeys {
  const root = readKeyPair(dir, 'root');
  const chain = readRootChain(dir);
  const rootState = walkRootChain(chain, readProvisionedRoot(dir));
  if (!bytesEqual(rootState.publicKey, root.publicKey)) {
    throw new WfError('KEYS_INVALID', `${dir}/root.key is not where root-chain.cbor ends (root version ${rootState.version})`);
  }
  const doc = openKeyDocument(readKeyDocumentFile(dir), { rootPublicKey: root.publicKey, now: 0, allowExpired: true });
  return { root, rootState, chain, doc };
}

/** The next key document: serial + 1, issued now, the document and all its keys valid `validYears`. */
export function nextKeyDocument(current: KeyDocument, keys: Array<Omit<KeyEntry, 'expires'>>, now: number, validYears = DEFAULT_VALID_YEARS): KeyDocument {
  const expires = now + Math.round(validYears * YEAR);
  return { serial: current.serial + 1, issuedAt: now, expires, keys: keys.map((k) => ({ kid: k.kid, role: k.role, publicKey: k.publicKey, expires })) };
}

export function sign(doc: KeyDocument, root: Ed25519KeyPair): Uint8Array {
  return signKeyDocument(doc, root);
}
