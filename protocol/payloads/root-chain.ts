// Root rotation (protocol.md §3.5): a chain of root links walked one by one, as TUF walks root
// versions. Link N names root version N and is signed by root N-1; the first link is signed by the
// root a device was provisioned with. A root is only used once something it signed verifies (the
// next link or the key document), so every root in the chain proves it holds its key.
import type { Signer } from '../cose.js';
import { bytesEqual, keyId } from '../crypto.js';
import { WfError } from '../errors.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';

export const ROOT_LINK_MAX_BYTES = 512;
/** Links a bundle or freshness message may carry: 16 root rotations. */
export const ROOT_CHAIN_MAX = 16;

export interface RootLink {
  /** Root version this link introduces (≥ 2; the provisioned root is version 1). */
  version: number;
  publicKey: Uint8Array;
  issuedAt: number;
}

/** A root and its version: what a device trusts, or where a chain walk ended. */
export interface RootState {
  version: number;
  publicKey: Uint8Array;
}

export function signRootLink(link: RootLink, previousRoot: Signer): Uint8Array {
  return sealSigned(PAYLOAD_TYPE.rootLink, [[2, link.version], [3, link.publicKey], [4, link.issuedAt]], previousRoot);
}

/**
 * Walk `links` from the provisioned root (version 1). Each link must be signed by the root before
 * it and name the next version; the walk must pass through the root the device trusts (same key
 * at the same version: a chain forked by a retired root is refused) and may not end below it.
 */
export function walkRootChain(links: readonly Uint8Array[], provisioned: Uint8Array, trusted?: RootState): RootState {
  let current: RootState = { version: 1, publicKey: provisioned };
  links.forEach((bytes, i) => {
    const signer = current;
    const { fields: f } = openSigned(bytes, {
      what: `root chain[${i}]`,
      maxBytes: ROOT_LINK_MAX_BYTES,
      type: PAYLOAD_TYPE.rootLink,
      keyFor(kid) {
        if (!bytesEqual(kid, keyId(signer.publicKey))) {
          throw new WfError('ROOT_CHAIN_BROKEN', `root chain[${i}] is not signed by root version ${signer.version}`);
        }
        return signer.publicKey;
      },
    });
    const version = f.uint(2, 'version', { min: 2 });
    const publicKey = f.bytes(3, 'root_public_key', { exact: 32 });
    f.uint(4, 'issued_at');
    f.done();
    if (version !== signer.version + 1) throw new WfError('ROOT_CHAIN_BROKEN', `root chain[${i}] names version ${version} after ${signer.version}`);
    if (trusted && version === trusted.version && !bytesEqual(publicKey, trusted.publicKey)) {
      throw new WfError('ROOT_CHAIN_BROKEN', `root chain[${i}] names another root for version ${version} than the one trusted`);
    }
    current = { version, publicKey };
  });
  if (trusted && current.version < trusted.version) {
    throw new WfError('ROOT_ROLLBACK', `root chain ends at version ${current.version}, trusted ${trusted.version}`);
  }
  return current;
}
