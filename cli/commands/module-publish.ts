// wasmfleet module publish <file> --name --version: validate the module, sign its release
// manifest with the operator's release key (never sent to the server), upload both.
import { loadModuleFile } from '../wat.js';
import { ABI_VERSION } from '../../protocol/abi.js';
import { WfError } from '../../protocol/errors.js';
import { PATTERNS } from '../../protocol/fields.js';
import { readKeyPair } from '../../protocol/keyfiles.js';
import { signReleaseManifest, type ReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { describeModule } from '../../protocol/wasm-inspect.js';
import type { ModuleView } from '../../protocol/views.js';
import type { ApiClient } from '../client.js';

export interface PublishOptions {
  name: string;
  version: string;
  tickMs: number;
  stack: number;
  keysDir: string;
}

/** What the server answers: the registry entry, and whether this upload created it. */
export type PublishedModule = ModuleView & { created: boolean };

/** Build and sign the release manifest for a module (operator side). */
export function buildReleaseManifest(wasm: Uint8Array, o: Omit<PublishOptions, 'keysDir'>, now = Math.floor(Date.now() / 1000)): ReleaseManifest {
  if (!PATTERNS.component.test(o.name)) throw new WfError('REQUEST_INVALID', `--name "${o.name}": use 1-64 of [A-Za-z0-9._-]`);
  if (!PATTERNS.semver.test(o.version)) throw new WfError('REQUEST_INVALID', `--version "${o.version}": expected MAJOR.MINOR.PATCH[-PRERELEASE]`);
  const facts = describeModule(wasm);
  return {
    component: o.name,
    version: o.version,
    image: { sha256: facts.sha256, size: facts.size, format: 'wasm' },
    abi: ABI_VERSION,
    capabilities: facts.capabilities,
    memory: { maxPages: facts.maxPages, stack: o.stack },
    tickMs: o.tickMs,
    exports: facts.entryExports,
    createdAt: now,
  };
}

export async function publishModuleFile(api: ApiClient, file: string, o: PublishOptions): Promise<PublishedModule> {
  const wasm = await loadModuleFile(file);
  const { maxModuleBytes } = await api.get<{ maxModuleBytes: number }>('/v1/limits');
  if (wasm.length > maxModuleBytes) throw new WfError('IMAGE_TOO_LARGE', `${file}: ${wasm.length} bytes, the server at ${api.server} accepts up to ${maxModuleBytes}`);
  const manifest = signReleaseManifest(buildReleaseManifest(wasm, o), readKeyPair(o.keysDir, 'release'));
  return api.post<PublishedModule>('/v1/modules', {
    manifest: Buffer.from(manifest).toString('base64'),
    module: Buffer.from(wasm).toString('base64'),
  });
}
