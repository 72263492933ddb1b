// wasmfleet keys init: root, release and director keys (0600) and the root-signed key document.
import { existsSync, mkdirSync } from 'node:fs';
import { generateKeyPair, keyId, toHex, type Ed25519KeyPair } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { KEY_FILES, writeFileAtomic, writeKeyPair, type KeyName } from '../../protocol/keyfiles.js';
import { signKeyDocument } from '../../protocol/payloads/key-document.js';

const YEAR = 365 * 86400;

export interface KeysInitResult {
  dir: string;
  keys: Array<{ name: KeyName; kid: string; publicKey: string }>;
  keyDocument: { serial: number; expires: number };
}

export function initKeys(dir: string, now = Math.floor(Date.now() / 1000), validYears = 2): KeysInitResult {
  const names: KeyName[] = ['root', 'release', 'director'];
  const existing = [...names.map((n) => KEY_FILES.secret(dir, n)), KEY_FILES.keyDocument(dir)].filter((p) => existsSync(p));
  if (existing.length > 0) throw new WfError('KEYS_EXIST', `${existing.join(', ')}; refusing to overwrite (use "keys rotate")`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pairs = Object.fromEntries(names.map((n) => [n, generateKeyPair()])) as Record<KeyName, Ed25519KeyPair>;
  const expires = now + validYears * YEAR;
  const doc = signKeyDocument(
    {
      serial: 1,
      issuedAt: now,
      expires,
      keys: (['release', 'director'] as const).map((role) => ({ kid: keyId(pairs[role].publicKey), role, publicKey: pairs[role].publicKey, expires })),
    },
    pairs.root,
  );
  for (const n of names) writeKeyPair(dir, n, pairs[n]);
  writeFileAtomic(KEY_FILES.keyDocument(dir), doc, 0o644);
  return {
    dir,
    keys: names.map((name) => ({ name, kid: toHex(keyId(pairs[name].publicKey)), publicKey: toHex(pairs[name].publicKey) })),
    keyDocument: { serial: 1, expires },
  };
}
