// What the server holds of the trust model (docs/architecture.md "Trust"): the provisioned root
// public key and the root chain (to check the key document it serves, and to hand both to devices),
// the key document, and the online director key. Never a root or release secret.
import { readKeyDocumentFile, readKeyPair, readProvisionedRoot, readPublicKey, readRootChain } from '../protocol/keyfiles.js';
import { openKeyDocument, type KeyDocument } from '../protocol/payloads/key-document.js';
import { walkRootChain, type RootState } from '../protocol/payloads/root-chain.js';
import { keyId, bytesEqual, type Ed25519KeyPair } from '../protocol/crypto.js';
import { WfError } from '../protocol/errors.js';
import { nowSeconds } from './store/db.js';

export interface Trust {
  /** The root devices are provisioned with (root version 1). */
  rootPublicKey: Uint8Array;
  /** The current root, where the chain ends. */
  root: RootState;
  /** Root chain links sent with every bundle and freshness message (empty before a root rotation). */
  roots: Uint8Array[];
  keyDocumentBytes: Uint8Array;
  keyDocument: KeyDocument;
  director: Ed25519KeyPair;
}

export function loadTrust(keysDir: string, now = nowSeconds()): Trust {
  const rootPublicKey = readProvisionedRoot(keysDir);
  const roots = readRootChain(keysDir);
  const root = walkRootChain(roots, rootPublicKey);
  if (!bytesEqual(root.publicKey, readPublicKey(keysDir, 'root'))) {
    throw new WfError('KEYS_INVALID', `${keysDir}/root.pub is not where root-chain.cbor ends (root version ${root.version})`);
  }
  const keyDocumentBytes = readKeyDocumentFile(keysDir);
  let keyDocument: KeyDocument;
  try {
    keyDocument = openKeyDocument(keyDocumentBytes, { rootPublicKey: root.publicKey, now });
  } catch (err) {
    if (err instanceof WfError && err.code === 'KEYDOC_EXPIRED') {
      throw new WfError('KEYDOC_EXPIRED', `${keysDir}/keydoc.cbor ${err.message.replace(/^key document has expired: /, '')}; run "wasmfleet keys renew" with the root key`);
    }
    throw err;
  }
  const director = readKeyPair(keysDir, 'director');
  const entry = keyDocument.keys.find((k) => bytesEqual(k.kid, keyId(director.publicKey)));
  if (!entry || entry.role !== 'director') {
    throw new WfError('KEYS_INVALID', `${keysDir}/director.key is not a director key of the key document (rotate keys again?)`);
  }
  return { rootPublicKey, root, roots, keyDocumentBytes, keyDocument, director };
}
