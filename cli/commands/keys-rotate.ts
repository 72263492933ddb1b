// wasmfleet keys rotate <role>: a new release or director key and a new key document (serial + 1)
// signed by the root key. Old keys of the role stay valid unless --revoke-old, so releases
// signed before the rotation still verify.
import { renameSync } from 'node:fs';
import { generateKeyPair, keyId, toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { KEY_FILES, readKeyDocumentFile, readKeyPair, writeFileAtomic, writeKeyPair } from '../../protocol/keyfiles.js';
import { KEY_ROLES, openKeyDocument, signKeyDocument, type KeyRole } from '../../protocol/payloads/key-document.js';

export interface RotateResult {
  role: KeyRole;
  kid: string;
  serial: number;
  retiredFile: string;
}

export function rotateKey(dir: string, role: string, revokeOld = false, now = Math.floor(Date.now() / 1000)): RotateResult {
  if (!(KEY_ROLES as readonly string[]).includes(role)) throw new WfError('REQUEST_INVALID', `role must be one of ${KEY_ROLES.join(', ')}, got "${role}"`);
  const r = role as KeyRole;
  const root = readKeyPair(dir, 'root');
  const current = openKeyDocument(readKeyDocumentFile(dir), { rootPublicKey: root.publicKey, now });
  const fresh = generateKeyPair();
  const kept = current.keys.filter((k) => !(revokeOld && k.role === r));
  const doc = signKeyDocument(
    {
      serial: current.serial + 1,
      issuedAt: now,
      expires: current.expires,
      keys: [...kept, { kid: keyId(fresh.publicKey), role: r, publicKey: fresh.publicKey, expires: current.expires }],
    },
    root,
  );
  const old = readKeyPair(dir, r);
  const retiredFile = `${KEY_FILES.secret(dir, r)}.${toHex(keyId(old.publicKey))}.retired`;
  renameSync(KEY_FILES.secret(dir, r), retiredFile);
  writeKeyPair(dir, r, fresh, true);
  writeFileAtomic(KEY_FILES.keyDocument(dir), doc, 0o644, true);
  return { role: r, kid: toHex(keyId(fresh.publicKey)), serial: current.serial + 1, retiredFile };
}
