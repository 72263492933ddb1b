// Keys for a rehearsal's twin server. The twin must accept the real release (signed by the
// operator's release key) and the real rollback authorizations, but it must never hold the real
// director key nor make anything the real devices would trust. So: a throwaway root and director,
// and a key document, signed by that throwaway root, that lists the operator's release keys as they
// are in the real key document. Twin devices pin the throwaway root.
import { generateKeyPair, keyId } from '../../protocol/crypto.js';
import { readKeyDocumentFile, readPublicKey, writeFileAtomic, writeKeyPair, KEY_FILES } from '../../protocol/keyfiles.js';
import { openKeyDocument, signKeyDocument } from '../../protocol/payloads/key-document.js';

/** Writes the twin's keys into `twinDir` (a fresh temp dir) from the operator's `keysDir`. */
export function writeTwinTrust(keysDir: string, twinDir: string, now = Math.floor(Date.now() / 1000)): void {
  const real = openKeyDocument(readKeyDocumentFile(keysDir), { rootPublicKey: readPublicKey(keysDir, 'root'), now });
  const root = generateKeyPair();
  const director = generateKeyPair();
  const expires = now + 86400;
  const doc = signKeyDocument(
    {
      serial: 1,
      issuedAt: now,
      expires,
      keys: [
        ...real.keys.filter((k) => k.role === 'release'),
        { kid: keyId(director.publicKey), role: 'director', publicKey: director.publicKey, expires },
      ],
    },
    root,
  );
  writeKeyPair(twinDir, 'root', root);
  writeKeyPair(twinDir, 'director', director);
  writeFileAtomic(KEY_FILES.keyDocument(twinDir), doc, 0o644);
}
