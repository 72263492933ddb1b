// wasmfleet keys rotate <role>: a new key for the role and a new key document (serial + 1, renewed
// expiry) signed by the root key.
// - release / director: old keys of the role stay valid unless --revoke-old, so releases signed
//   before the rotation still verify; with --revoke-old, devices and the server refuse them.
// - root: a new root key; a root chain link (protocol.md §3.5) signed by the old root names it, and
//   the new key document is signed by the new root. Devices walk the chain from the root they were
//   provisioned with (root-1.pub), which is kept.
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { generateKeyPair, keyId, toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { KEY_FILES, readKeyPair, writeFileAtomic, writeKeyPair, writeRootChain, type KeyName } from '../../protocol/keyfiles.js';
import { KEY_ROLES, type KeyRole } from '../../protocol/payloads/key-document.js';
import { ROOT_CHAIN_MAX, signRootLink } from '../../protocol/payloads/root-chain.js';
import { DEFAULT_VALID_YEARS, loadCurrentKeys, nextKeyDocument, sign } from './keys-document.js';

export interface RotateResult {
  role: KeyRole | 'root';
  kid: string;
  serial: number;
  /** Root version after the rotation. */
  rootVersion: number;
  retiredFile: string;
  revoked: string[];
}

const ROTATABLE = [...KEY_ROLES, 'root'] as const;

export function rotateKey(dir: string, role: string, revokeOld = false, now = Math.floor(Date.now() / 1000), validYears = DEFAULT_VALID_YEARS): RotateResult {
  if (!(ROTATABLE as readonly string[]).includes(role)) throw new WfError('REQUEST_INVALID', `role must be one of ${ROTATABLE.join(', ')}, got "${role}"`);
  const current = loadCurrentKeys(dir);
  const fresh = generateKeyPair();
  if (role === 'root') {
    if (current.chain.length >= ROOT_CHAIN_MAX) throw new WfError('REQUEST_INVALID', `the root chain holds ${ROOT_CHAIN_MAX} links, the most devices accept`);
    const version = current.rootState.version + 1;
    const link = signRootLink({ version, publicKey: fresh.publicKey, issuedAt: now }, current.root);
    const next = nextKeyDocument(current.doc, current.doc.keys, now, validYears);
    // Keep the root devices were provisioned with before root.pub changes.
    if (!existsSync(KEY_FILES.provisionedRoot(dir))) copyFileSync(KEY_FILES.public(dir, 'root'), KEY_FILES.provisionedRoot(dir));
    const retiredFile = retire(dir, 'root', current.root.publicKey);
    writeKeyPair(dir, 'root', fresh, true);
    writeRootChain(dir, [...current.chain, link]);
    writeFileAtomic(KEY_FILES.keyDocument(dir), sign(next, fresh), 0o644, true);
    return { role: 'root', kid: toHex(keyId(fresh.publicKey)), serial: next.serial, rootVersion: version, retiredFile, revoked: [] };
  }
  const r = role as KeyRole;
  const revoked = current.doc.keys.filter((k) => revokeOld && k.role === r);
  const kept = current.doc.keys.filter((k) => !revoked.includes(k));
  const next = nextKeyDocument(current.doc, [...kept, { kid: keyId(fresh.publicKey), role: r, publicKey: fresh.publicKey }], now, validYears);
  const retiredFile = retire(dir, r, readKeyPair(dir, r).publicKey);
  writeKeyPair(dir, r, fresh, true);
  writeFileAtomic(KEY_FILES.keyDocument(dir), sign(next, current.root), 0o644, true);
  return {
    role: r,
    kid: toHex(keyId(fresh.publicKey)),
    serial: next.serial,
    rootVersion: current.rootState.version,
    retiredFile,
    revoked: revoked.map((k) => toHex(k.kid)),
  };
}

function retire(dir: string, name: KeyName, publicKey: Uint8Array): string {
  const retiredFile = `${KEY_FILES.secret(dir, name)}.${toHex(keyId(publicKey))}.retired`;
  renameSync(KEY_FILES.secret(dir, name), retiredFile);
  return retiredFile;
}
