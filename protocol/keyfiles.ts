// Key files on disk: one JSON file per secret key (mode 0600), a hex public key beside it.
// Shared by the CLI (root, release), the server (director) and device provisioning (root.pub).
import { existsSync, readFileSync, writeFileSync, renameSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCbor, encodeCbor } from './cbor.js';
import { checkArray, checkBytes } from './fields.js';
import { ROOT_CHAIN_MAX, ROOT_LINK_MAX_BYTES } from './payloads/root-chain.js';
import { fromHex, keyId, keyPairFromSeed, toHex, type Ed25519KeyPair } from './crypto.js';
import { WfError } from './errors.js';

export type KeyName = 'root' | 'release' | 'director';

export const KEY_FILES = {
  secret: (dir: string, name: KeyName) => join(dir, `${name}.key`),
  public: (dir: string, name: KeyName) => join(dir, `${name}.pub`),
  keyDocument: (dir: string) => join(dir, 'keydoc.cbor'),
  /** Root chain links (protocol.md §3.5), written by "keys rotate root". */
  rootChain: (dir: string) => join(dir, 'root-chain.cbor'),
  /** The root devices were provisioned with (version 1), kept once the root has rotated. */
  provisionedRoot: (dir: string) => join(dir, 'root-1.pub'),
};

interface SecretKeyFile {
  format: 'wasmfleet-ed25519-v1';
  name: KeyName;
  kid: string;
  public: string;
  seed: string;
}

/** Write atomically (temp file, then rename) with the given mode; refuses to overwrite unless asked. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: number, overwrite = false): void {
  if (!overwrite && existsSync(path)) throw new WfError('KEYS_EXIST', path);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

export function writeKeyPair(dir: string, name: KeyName, kp: Ed25519KeyPair, overwrite = false): void {
  const file: SecretKeyFile = {
    format: 'wasmfleet-ed25519-v1',
    name,
    kid: toHex(keyId(kp.publicKey)),
    public: toHex(kp.publicKey),
    seed: toHex(kp.seed),
  };
  writeFileAtomic(KEY_FILES.secret(dir, name), JSON.stringify(file, null, 2) + '\n', 0o600, overwrite);
  writeFileAtomic(KEY_FILES.public(dir, name), toHex(kp.publicKey) + '\n', 0o644, overwrite);
}

export function readKeyPair(dir: string, name: KeyName): Ed25519KeyPair {
  const path = KEY_FILES.secret(dir, name);
  if (!existsSync(path)) throw new WfError('KEYS_MISSING', `${path} (run "wasmfleet keys init")`);
  let file: SecretKeyFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as SecretKeyFile;
  } catch (err) {
    throw new WfError('KEYS_INVALID', `${path}: ${(err as Error).message}`);
  }
  if (file.format !== 'wasmfleet-ed25519-v1' || typeof file.seed !== 'string' || file.seed.length !== 64) {
    throw new WfError('KEYS_INVALID', `${path}: not a wasmfleet key file`);
  }
  const kp = keyPairFromSeed(fromHex(file.seed));
  if (toHex(kp.publicKey) !== file.public) throw new WfError('KEYS_INVALID', `${path}: public key does not match the seed`);
  return kp;
}

export function readPublicKey(dir: string, name: KeyName): Uint8Array {
  return readPublicKeyFile(KEY_FILES.public(dir, name));
}

export function readPublicKeyFile(path: string): Uint8Array {
  if (!existsSync(path)) throw new WfError('KEYS_MISSING', path);
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new WfError('KEYS_INVALID', `${path}: expected 64 hex digits`);
  return fromHex(hex);
}

export function readKeyDocumentFile(dir: string): Uint8Array {
  const path = KEY_FILES.keyDocument(dir);
  if (!existsSync(path)) throw new WfError('KEYS_MISSING', `${path} (run "wasmfleet keys init")`);
  return new Uint8Array(readFileSync(path));
}

/** The provisioned root (version 1): root-1.pub once the root has rotated, else root.pub. */
export function readProvisionedRoot(dir: string): Uint8Array {
  const path = KEY_FILES.provisionedRoot(dir);
  return existsSync(path) ? readPublicKeyFile(path) : readPublicKey(dir, 'root');
}

/** The root chain links, oldest first; none before the first root rotation. */
export function readRootChain(dir: string): Uint8Array[] {
  const path = KEY_FILES.rootChain(dir);
  if (!existsSync(path)) return [];
  const what = `${path}`;
  return checkArray(decodeCbor(new Uint8Array(readFileSync(path)), { what, maxBytes: ROOT_CHAIN_MAX * (ROOT_LINK_MAX_BYTES + 4) + 4 }), what, {
    max: ROOT_CHAIN_MAX,
  }).map((l, i) => checkBytes(l, `${what}[${i}]`, { max: ROOT_LINK_MAX_BYTES }));
}

export function writeRootChain(dir: string, links: Uint8Array[]): void {
  writeFileAtomic(KEY_FILES.rootChain(dir), encodeCbor(links), 0o644, true);
}
