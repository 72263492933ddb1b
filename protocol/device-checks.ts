// Device checks 1-4 of docs/protocol.md §4, as one function every TypeScript host uses
// and the test vectors pin. The C host implements the same order; the vectors keep them equal.
import { ABI_VERSION } from './abi.js';
import { bytesEqual, sha256 } from './crypto.js';
import { WfError } from './errors.js';
import { decodeBundle, decodeFreshnessMessage } from './messages.js';
import { openDirective, type Directive } from './payloads/directive.js';
import { openFreshness, type FreshnessStatement } from './payloads/freshness.js';
import { openKeyDocument, type KeyDocument } from './payloads/key-document.js';
import { openReleaseManifest, type ReleaseManifest } from './payloads/release-manifest.js';
import { checkRollbackCovers, openRollback } from './payloads/rollback.js';
import { walkRootChain, type RootState } from './payloads/root-chain.js';
import { compareVersions } from './semver.js';

/** Allowed clock skew on devices for every expiry check (protocol.md §4). */
export const DEVICE_CLOCK_SKEW_S = 300;
export const WASM_PAGE_BYTES = 65536;

/** What a device trusts: the provisioned root, the root it has walked to, the key document floor. */
export interface TrustContext {
  /** The root public key pinned at provisioning (root version 1). */
  rootPublicKey: Uint8Array;
  /** The root the device trusts now, after rotations (default: version 1, the provisioned one). */
  root?: RootState;
  keydocSerial: number;
  /** Seconds since the epoch, by the device's clock. */
  now: number;
  skew?: number;
}

export interface CheckedTrust {
  root: RootState;
  keyDocument: KeyDocument;
}

/** Check 2: walk the root chain from the provisioned root, then the key document against its end. */
export function checkTrust(keyDocumentBytes: Uint8Array, roots: readonly Uint8Array[] | undefined, ctx: TrustContext): CheckedTrust {
  const root = walkRootChain(roots ?? [], ctx.rootPublicKey, ctx.root);
  const keyDocument = openKeyDocument(keyDocumentBytes, {
    rootPublicKey: root.publicKey,
    now: ctx.now,
    minSerial: ctx.keydocSerial,
    skew: ctx.skew ?? DEVICE_CLOCK_SKEW_S,
  });
  return { root, keyDocument };
}

export interface DeviceContext extends TrustContext {
  deviceId: string;
  capabilities: readonly string[];
  /** Bytes available for a module's linear memory. */
  memory: number;
  committedSequence: number;
  /** What runs now, per component. */
  running: ReadonlyMap<string, { version: string; manifestDigest: Uint8Array }>;
  supportedAbi?: readonly number[];
}

export interface CheckedRelease {
  component: string;
  manifest: ReleaseManifest;
  manifestBytes: Uint8Array;
  manifestDigest: Uint8Array;
  config: Record<string, string>;
  /** True when this release is older than the running one (a signed rollback covers it). */
  downgrade: boolean;
  /** True when exactly this release already runs: nothing to download. */
  alreadyRunning: boolean;
}

export interface CheckedBundle {
  root: RootState;
  keyDocument: KeyDocument;
  directive: Directive;
  releases: CheckedRelease[];
}

/** Run checks 1-4 on a directive bundle. Throws a WfError whose code is the device's reason. */
export function checkBundle(bundleBytes: Uint8Array, ctx: DeviceContext): CheckedBundle {
  const skew = ctx.skew ?? DEVICE_CLOCK_SKEW_S;
  // 1. size bound, strict CBOR
  const bundle = decodeBundle(bundleBytes);
  // 2. root chain from the pinned root, key document against its end
  const { root, keyDocument } = checkTrust(bundle.keyDocument, bundle.roots, { ...ctx, skew });
  // 3. directive: director signature, device, expiry, sequence
  const directive = openDirective(bundle.directive, keyDocument, ctx.now, skew);
  if (directive.device !== ctx.deviceId) throw new WfError('DIRECTIVE_WRONG_DEVICE', `for "${directive.device}"`);
  if (directive.expires + skew <= ctx.now) throw new WfError('DIRECTIVE_EXPIRED', `expired at ${directive.expires}`);
  if (directive.sequence <= ctx.committedSequence) {
    throw new WfError('DIRECTIVE_REPLAY', `sequence ${directive.sequence} <= committed ${ctx.committedSequence}`);
  }
  // 4. each release manifest
  const digests = bundle.manifests.map((m) => sha256(m));
  const releases = directive.components.map((entry): CheckedRelease => {
    const at = digests.findIndex((d) => bytesEqual(d, entry.manifestDigest));
    if (at < 0) throw new WfError('DIRECTIVE_MANIFEST_MISSING', entry.component);
    const manifestBytes = bundle.manifests[at];
    const manifest = openReleaseManifest(manifestBytes, keyDocument, ctx.now, skew);
    if (manifest.component !== entry.component) {
      throw new WfError('MANIFEST_MISMATCH', `directive names "${entry.component}", manifest is "${manifest.component}"`);
    }
    if (!(ctx.supportedAbi ?? [ABI_VERSION]).includes(manifest.abi)) throw new WfError('ABI_UNSUPPORTED', `abi ${manifest.abi}`);
    const missing = manifest.capabilities.filter((c) => !ctx.capabilities.includes(c));
    if (missing.length > 0) throw new WfError('CAPABILITY_NOT_GRANTED', missing.join(', '));
    if (manifest.memory.maxPages * WASM_PAGE_BYTES > ctx.memory) {
      throw new WfError('MEMORY_TOO_LARGE', `${manifest.memory.maxPages} pages > ${ctx.memory} bytes`);
    }
    const current = ctx.running.get(entry.component);
    const downgrade = current !== undefined && compareVersions(manifest.version, current.version) < 0;
    if (downgrade) {
      if (!entry.rollback) throw new WfError('DIRECTIVE_DOWNGRADE', `${manifest.version} < running ${current.version}`);
      const auth = openRollback(entry.rollback, keyDocument, ctx.now, skew);
      checkRollbackCovers(auth, entry.component, entry.manifestDigest, ctx.now, skew);
    }
    const alreadyRunning = current !== undefined && bytesEqual(current.manifestDigest, entry.manifestDigest);
    return {
      component: entry.component,
      manifest,
      manifestBytes,
      manifestDigest: entry.manifestDigest,
      config: entry.config ?? {},
      downgrade,
      alreadyRunning,
    };
  });
  return { root, keyDocument, directive, releases };
}

export interface FreshnessContext extends TrustContext {
  /** issued_at of the newest statement already accepted; an older one is refused. */
  lastIssuedAt?: number;
}

export interface CheckedFreshness extends CheckedTrust {
  statement: FreshnessStatement;
}

/** The freshness message of protocol.md §5 (TUF's timestamp check): trust, signature, expiry, order. */
export function checkFreshness(bytes: Uint8Array, ctx: FreshnessContext): CheckedFreshness {
  const skew = ctx.skew ?? DEVICE_CLOCK_SKEW_S;
  const msg = decodeFreshnessMessage(bytes);
  const trust = checkTrust(msg.keyDocument, msg.roots, { ...ctx, skew });
  const statement = openFreshness(msg.statement, trust.keyDocument, ctx.now, skew);
  if (statement.expires + skew <= ctx.now) throw new WfError('FRESHNESS_EXPIRED', `expired at ${statement.expires}`);
  if (ctx.lastIssuedAt !== undefined && statement.issuedAt < ctx.lastIssuedAt) {
    throw new WfError('FRESHNESS_ROLLBACK', `issued at ${statement.issuedAt}, last seen ${ctx.lastIssuedAt}`);
  }
  return { ...trust, statement };
}
