// Release manifest (protocol.md §3.2): what a module version is, signed once by a release key.
import type { CborValue } from '../cbor.js';
import type { Signer } from '../cose.js';
import { sha256 } from '../crypto.js';
import { WfError } from '../errors.js';
import { checkText, MapReader, PATTERNS } from '../fields.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';
import { keyForRole, type KeyDocument } from './key-document.js';

export const MANIFEST_MAX_BYTES = 2048;
export const IMAGE_MAX_BYTES = 16 * 1024 * 1024;
export const ENTRY_EXPORTS = ['wf_health', 'wf_init', 'wf_tick'] as const;

export interface ReleaseManifest {
  component: string;
  version: string;
  image: { sha256: Uint8Array; size: number; format: 'wasm' };
  abi: number;
  capabilities: string[];
  memory: { maxPages: number; stack: number };
  tickMs: number;
  exports: string[];
  createdAt: number;
}

export function signReleaseManifest(m: ReleaseManifest, releaseKey: Signer): Uint8Array {
  return sealSigned(
    PAYLOAD_TYPE.releaseManifest,
    [
      [2, m.component],
      [3, m.version],
      [4, new Map<number, CborValue>([[1, m.image.sha256], [2, m.image.size], [3, m.image.format]])],
      [5, m.abi],
      [6, [...m.capabilities].sort()],
      [7, new Map<number, CborValue>([[1, m.memory.maxPages], [2, m.memory.stack]])],
      [8, m.tickMs],
      [9, [...m.exports].sort()],
      [10, m.createdAt],
    ],
    releaseKey,
  );
}

/** The digest a directive uses to name a manifest: SHA-256 over its COSE bytes. */
export function manifestDigest(manifestBytes: Uint8Array): Uint8Array {
  return sha256(manifestBytes);
}

export function openReleaseManifest(bytes: Uint8Array, keys: KeyDocument, now: number, skew = 0): ReleaseManifest {
  const { fields: f } = openSigned(bytes, {
    what: 'release manifest',
    maxBytes: MANIFEST_MAX_BYTES,
    type: PAYLOAD_TYPE.releaseManifest,
    keyFor: (kid) => keyForRole(keys, kid, 'release', now, skew),
  });
  return readReleaseManifest(f);
}

function readSortedTexts(values: CborValue[], name: string, max: number): string[] {
  const out = values.map((v, i) => checkText(v, `${name}[${i}]`, { min: 1, max }));
  for (let i = 1; i < out.length; i++) {
    if (out[i - 1] >= out[i]) throw new WfError('CBOR_FIELD_INVALID', `${name}: must be sorted and unique`);
  }
  return out;
}

function readReleaseManifest(f: MapReader): ReleaseManifest {
  const component = f.text(2, 'component', { max: 64, pattern: PATTERNS.component });
  const version = f.text(3, 'version', { max: 32, pattern: PATTERNS.semver });
  const img = f.map_(4, 'image');
  const image = {
    sha256: img.bytes(1, 'sha256', { exact: 32 }),
    size: img.uint(2, 'size', { min: 1, max: IMAGE_MAX_BYTES }),
    format: img.text(3, 'format', { max: 8, pattern: /^wasm$/ }) as 'wasm',
  };
  img.done();
  const abi = f.uint(5, 'abi', { min: 1, max: 255 });
  const capabilities = readSortedTexts(f.array(6, 'capabilities', { max: 32 }), 'release manifest.capabilities', 32);
  const mem = f.map_(7, 'memory');
  const memory = { maxPages: mem.uint(1, 'max_pages', { max: 65536 }), stack: mem.uint(2, 'stack', { max: 16 * 1024 * 1024 }) };
  mem.done();
  const tickMs = f.uint(8, 'tick_ms', { min: 10, max: 3_600_000 });
  const exports = readSortedTexts(f.array(9, 'exports', { max: 3 }), 'release manifest.exports', 16);
  for (const e of exports) {
    if (!(ENTRY_EXPORTS as readonly string[]).includes(e)) throw new WfError('CBOR_FIELD_INVALID', `release manifest.exports: "${e}"`);
  }
  const createdAt = f.uint(10, 'created_at');
  f.done();
  return { component, version, image, abi, capabilities, memory, tickMs, exports, createdAt };
}
