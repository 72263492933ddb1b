// What the server holds of the trust model (docs/architecture.md "Trust"): the root public key (to check the key
// document it serves), the key document, and the online director key. Never a root or release secret.
import { readKeyDocumentFile, readKeyPair, readPublicKey } from '../protocol/keyfiles.js';
import { openKeyDocument, type KeyDocument } from '../protocol/payloads/key-document.js';
import { keyId, bytesEqual, type Ed25519KeyPair } from '../protocol/crypto.js';
import { WfError } from '../protocol/errors.js';
import { nowSeconds } from './store/db.js';

export interface Trust {
  rootPublicKey: Uint8Array;
  keyDocumentBytes: Uint8Array;
  keyDocument: KeyDocument;
  director: Ed25519KeyPair;
}

export function loadTrust(keysDir: string): Trust {
  const rootPublicKey = readPublicKey(keysDir, 'root');
  const keyDocumentBytes = readKeyDocumentFile(keysDir);
  const keyDocument = openKeyDocument(keyDocumentBytes, { rootPublicKey, now: nowSeconds() });
  const director = readKeyPair(keysDir, 'director');
  const entry = keyDocument.keys.find((k) => bytesEqual(k.kid, keyId(director.publicKey)));
  if (!entry || entry.role !== 'director') {
    throw new WfError('KEYS_INVALID', `${keysDir}/director.key is not a director key of the key document (rotate keys again?)`);
  }
  return { rootPublicKey, keyDocumentBytes, keyDocument, director };
}
