// Publish flow, as named steps: bound → inspect the module and check the ABI → verify the
// operator's release signature → check the manifest describes these bytes → store (idempotent).
import { ABI_VERSION } from '../../protocol/abi.js';
import { bytesEqual, toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { manifestDigest, openReleaseManifest, type ReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { describeModule, type ModuleFacts } from '../../protocol/wasm-inspect.js';
import type { BlobStore } from '../store/blobs.js';
import { audit, nowSeconds, type Actor } from '../store/db.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { Sql } from '../store/sql.js';
import type { Trust } from '../trust.js';

export interface PublishDeps {
  sql: Sql;
  modules: ModuleRepo;
  blobs: BlobStore;
  trust: () => Trust;
  maxModuleBytes: number;
}

export interface PublishResult {
  module: ModuleView;
  created: boolean;
}

/** Does the signed manifest describe exactly this module? Name the first field that differs. */
export function checkManifestMatches(m: ReleaseManifest, facts: ModuleFacts): void {
  const mismatch = (field: string, signed: unknown, actual: unknown) => {
    throw new WfError('MANIFEST_MISMATCH', `${field}: manifest says ${JSON.stringify(signed)}, module has ${JSON.stringify(actual)}`);
  };
  if (!bytesEqual(m.image.sha256, facts.sha256)) mismatch('image.sha256', toHex(m.image.sha256), toHex(facts.sha256));
  if (m.image.size !== facts.size) mismatch('image.size', m.image.size, facts.size);
  if (m.abi !== ABI_VERSION) mismatch('abi', m.abi, ABI_VERSION);
  if (m.capabilities.join() !== facts.capabilities.join()) mismatch('capabilities', m.capabilities, facts.capabilities);
  if (m.exports.join() !== facts.entryExports.join()) mismatch('exports', m.exports, facts.entryExports);
  if (m.memory.maxPages !== facts.maxPages) mismatch('memory.max_pages', m.memory.maxPages, facts.maxPages);
}

export async function publishModule(deps: PublishDeps, manifestBytes: Uint8Array, wasm: Uint8Array, actor: Actor | null): Promise<PublishResult> {
  // 1. bound
  if (wasm.length > deps.maxModuleBytes) throw new WfError('IMAGE_TOO_LARGE', `${wasm.length} bytes, limit ${deps.maxModuleBytes}`);
  // 2-3. inspect + ABI, once: the facts every manifest field is checked against
  const facts = describeModule(wasm);
  // 4. the release key's signature, checked against the current key document
  const manifest = openReleaseManifest(manifestBytes, deps.trust().keyDocument, nowSeconds());
  // 5. the manifest describes these bytes
  checkManifestMatches(manifest, facts);
  // 6. store: same bytes again is idempotent; same name@version with other bytes is refused
  const existing = await deps.modules.get(manifest.component, manifest.version);
  const digestHex = toHex(manifest.image.sha256);
  if (existing) {
    if (existing.sha256 === digestHex) {
      // Re-verify the stored bytes and repair them from this upload if they were damaged.
      await deps.blobs.put(wasm);
      return { module: existing, created: false };
    }
    throw new WfError('MODULE_VERSION_CONFLICT', `${manifest.component}@${manifest.version} is ${existing.sha256.slice(0, 12)}…, upload is ${digestHex.slice(0, 12)}…`);
  }
  await deps.blobs.put(wasm);
  const module = await deps.sql.tx(async (q) => {
    const view = await deps.modules.insert(
      {
        name: manifest.component,
        version: manifest.version,
        sha256: digestHex,
        size: wasm.length,
        manifestDigest: toHex(manifestDigest(manifestBytes)),
        capabilities: manifest.capabilities,
        maxPages: manifest.memory.maxPages,
      },
      manifestBytes,
      q,
    );
    await audit(q, 'module.publish', { name: view.name, version: view.version, sha256: view.sha256 }, { actor });
    return view;
  });
  return { module, created: true };
}
