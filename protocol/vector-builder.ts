// Builds protocol/vectors/: deterministic keys (fixed seeds), a fixed clock, and one fault per
// invalid vector. Ed25519 signatures are deterministic, so the bytes are reproducible and a test
// checks the committed files against a fresh build. The C host runs the same files.
import { encodeCbor, Tag, type CborValue } from './cbor.js';
import { ALG_ED25519, signSign1, type Signer } from './cose.js';
import { keyId, keyPairFromSeed, sha256, toHex, type Ed25519KeyPair } from './crypto.js';
import { type ErrorCode } from './errors.js';
import { encodeBundle, encodeChunkRequest, encodeChunkResponse, encodeFreshnessMessage, encodeHello, encodeReport } from './messages.js';
import { signFreshness } from './payloads/freshness.js';
import { signRootLink } from './payloads/root-chain.js';
import { signDirective, type Directive } from './payloads/directive.js';
import { signKeyDocument, type KeyDocument } from './payloads/key-document.js';
import { signReleaseManifest, type ReleaseManifest } from './payloads/release-manifest.js';
import { signRollback } from './payloads/rollback.js';
import { PAYLOAD_TYPE, sealSigned } from './signed.js';

export const VECTOR_NOW = 1767225600; // 2026-01-01T00:00:00Z
const DAY = 86400;

export interface VectorContext {
  device: string;
  now: number;
  skew: number;
  capabilities: string[];
  memory: number;
  committed_sequence: number;
  keydoc_serial: number;
  running: { component: string; version: string; manifest: string };
  /** The root the device trusts after rotations (absent: version 1, the provisioned root). */
  root_version?: number;
  root_key?: string;
  /** freshness vectors: issued_at of the newest statement already accepted. */
  last_issued_at?: number;
}

export interface VectorEntry {
  name: string;
  kind: 'bundle' | 'freshness' | 'chunk_response' | 'chunk_request' | 'hello' | 'report';
  file: string;
  valid: boolean;
  reason?: ErrorCode;
  description: string;
  context?: Partial<VectorContext>;
  expect?: Record<string, unknown>;
}

export interface VectorSet {
  index: {
    format: 1;
    root_public_key: string;
    context: VectorContext;
    vectors: VectorEntry[];
  };
  files: Map<string, Uint8Array>;
}

/** The fixed test key for `label` ('root', 'release', 'director', 'stranger'). */
export function seeded(label: string): Ed25519KeyPair {
  return keyPairFromSeed(sha256(new TextEncoder().encode(`wasmfleet test vector key: ${label}`)));
}

/** A fake image: its digest and size are all the bundle checks see. */
const IMAGE = new TextEncoder().encode('\0asm vector image placeholder');

export function buildVectors(): VectorSet {
  const root = seeded('root');
  const release = seeded('release');
  const director = seeded('director');
  const stranger = seeded('stranger');
  const now = VECTOR_NOW;

  const keyDoc = (over: Partial<KeyDocument> = {}): KeyDocument => ({
    serial: 1,
    issuedAt: now - DAY,
    expires: now + 365 * DAY,
    keys: [
      { kid: keyId(release.publicKey), role: 'release', publicKey: release.publicKey, expires: now + 365 * DAY },
      { kid: keyId(director.publicKey), role: 'director', publicKey: director.publicKey, expires: now + 365 * DAY },
    ],
    ...over,
  });
  const manifest = (over: Partial<ReleaseManifest> = {}): ReleaseManifest => ({
    component: 'blink',
    version: '1.1.0',
    image: { sha256: sha256(IMAGE), size: IMAGE.length, format: 'wasm' },
    abi: 1,
    capabilities: ['clock', 'log'],
    memory: { maxPages: 1, stack: 16384 },
    tickMs: 1000,
    exports: ['wf_init', 'wf_tick'],
    createdAt: now - 3600,
    ...over,
  });
  const runningManifest = signReleaseManifest(manifest({ version: '1.0.0' }), release);
  const context: VectorContext = {
    device: 'vec-device-1',
    now,
    skew: 300,
    capabilities: ['clock', 'config', 'kv', 'log', 'telemetry'],
    memory: 262144,
    committed_sequence: 4,
    keydoc_serial: 1,
    running: { component: 'blink', version: '1.0.0', manifest: toHex(sha256(runningManifest)) },
  };
  const directive = (manifestBytes: Uint8Array[], over: Partial<Directive> = {}): Directive => ({
    device: context.device,
    sequence: 5,
    issuedAt: now - 60,
    expires: now + 7 * DAY,
    rollout: 'r-vectors',
    components: manifestBytes.map((m) => ({ component: 'blink', manifestDigest: sha256(m) })),
    ...over,
  });

  const files = new Map<string, Uint8Array>();
  const vectors: VectorEntry[] = [];
  const add = (entry: Omit<VectorEntry, 'file'>, bytes: Uint8Array) => {
    const file = `${entry.name}.cbor`;
    files.set(file, bytes);
    vectors.push({ ...entry, file });
  };
  const bundle = (kd: Uint8Array, dir: Uint8Array, manifests: Uint8Array[], roots?: Uint8Array[]) =>
    encodeBundle({ keyDocument: kd, directive: dir, manifests, roots });

  const kd = signKeyDocument(keyDoc(), root);
  const m110 = signReleaseManifest(manifest(), release);
  const validDirective = signDirective(directive([m110]), director);
  const expectValid = (m: Uint8Array, version: string, sequence = 5) => ({
    sequence,
    components: [{ component: 'blink', version, manifest: toHex(sha256(m)), sha256: toHex(sha256(IMAGE)), size: IMAGE.length }],
  });

  // ---- valid bundles ----
  const valid = bundle(kd, validDirective, [m110]);
  add({ name: 'bundle-valid', kind: 'bundle', valid: true, description: 'blink 1.1.0 at sequence 5', expect: expectValid(m110, '1.1.0') }, valid);

  const alg19 = (payloadType: number, body: Array<[number, CborValue]>, signer: Signer) =>
    signSign1(encodeCbor(new Map<number, CborValue>([[0, payloadType], [1, 1], ...body])), signer, ALG_ED25519);
  const d = directive([m110]);
  const dirAlg19 = alg19(
    PAYLOAD_TYPE.directive,
    [[2, d.device], [3, d.sequence], [4, d.issuedAt], [5, d.expires], [6, d.rollout], [7, d.components.map((c) => new Map<number, CborValue>([[1, c.component], [2, c.manifestDigest]]))]],
    director,
  );
  add(
    { name: 'bundle-valid-alg-ed25519', kind: 'bundle', valid: true, description: 'directive signed with alg -19 (RFC 9864 Ed25519)', expect: expectValid(m110, '1.1.0') },
    bundle(kd, dirAlg19, [m110]),
  );

  const m090 = signReleaseManifest(manifest({ version: '0.9.0' }), release);
  const rb = signRollback({ component: 'blink', target: sha256(m090), issuedAt: now - 60, expires: now + DAY }, release);
  const rollbackDirective = (auth?: Uint8Array) =>
    signDirective(directive([m090], { components: [{ component: 'blink', manifestDigest: sha256(m090), ...(auth ? { rollback: auth } : {}) }] }), director);
  add(
    { name: 'bundle-valid-rollback', kind: 'bundle', valid: true, description: 'downgrade to 0.9.0 with a release-signed rollback authorization', expect: expectValid(m090, '0.9.0') },
    bundle(kd, rollbackDirective(rb), [m090]),
  );

  // ---- invalid bundles: one fault each ----
  const invalid = (name: string, reason: ErrorCode, description: string, bytes: Uint8Array, ctx?: Partial<VectorContext>) =>
    add({ name, kind: 'bundle', valid: false, reason, description, ...(ctx ? { context: ctx } : {}) }, bytes);

  const flipped = new Uint8Array(validDirective);
  flipped[flipped.length - 1] ^= 0x01; // last byte of the signature
  invalid('bundle-bad-signature', 'COSE_BAD_SIGNATURE', 'directive signature has one bit flipped', bundle(kd, flipped, [m110]));

  invalid(
    'bundle-signature-malleable',
    'COSE_BAD_SIGNATURE',
    'directive signature (R, s + L): verifies as an equation, refused because s ≥ L (RFC 8032 §5.1.7)',
    bundle(kd, withScalarPlusL(validDirective), [m110]),
  );

  const mFlipped = new Uint8Array(m110);
  mFlipped[mFlipped.length - 1] ^= 0x80;
  invalid(
    'bundle-manifest-bad-signature',
    'COSE_BAD_SIGNATURE',
    'release manifest signature altered (directive names the altered bytes)',
    bundle(kd, signDirective(directive([mFlipped]), director), [mFlipped]),
  );
  invalid('bundle-wrong-kid', 'COSE_UNKNOWN_KID', 'directive signed by a key not in the key document', bundle(kd, signDirective(directive([m110]), stranger), [m110]));
  invalid('bundle-wrong-role', 'COSE_WRONG_ROLE', 'directive signed by the release key', bundle(kd, signDirective(directive([m110]), release), [m110]));
  invalid(
    'bundle-wrong-type',
    'COSE_WRONG_TYPE',
    'a release manifest payload signed by the director key, in the directive slot',
    bundle(kd, signReleaseManifest(manifest(), director), [m110]),
  );
  invalid('bundle-keydoc-not-root', 'COSE_UNKNOWN_KID', 'key document signed by another key than the pinned root', bundle(signKeyDocument(keyDoc(), stranger), validDirective, [m110]));
  invalid(
    'bundle-keydoc-expired',
    'KEYDOC_EXPIRED',
    'key document expired a day ago',
    bundle(signKeyDocument(keyDoc({ expires: now - DAY }), root), validDirective, [m110]),
  );
  invalid('bundle-keydoc-rollback', 'KEYDOC_ROLLBACK', 'key document serial 1 while the device stores serial 2', valid, { keydoc_serial: 2 });
  invalid(
    'bundle-key-expired',
    'KEY_EXPIRED',
    'the director key expired in the key document',
    bundle(
      signKeyDocument(keyDoc({ keys: [keyDoc().keys[0], { ...keyDoc().keys[1], expires: now - DAY }] }), root),
      validDirective,
      [m110],
    ),
  );
  invalid('bundle-expired', 'DIRECTIVE_EXPIRED', 'directive expired an hour ago', bundle(kd, signDirective(directive([m110], { expires: now - 3600 }), director), [m110]));
  invalid('bundle-wrong-device', 'DIRECTIVE_WRONG_DEVICE', 'directive for another device', bundle(kd, signDirective(directive([m110], { device: 'vec-device-2' }), director), [m110]));
  invalid('bundle-replay', 'DIRECTIVE_REPLAY', 'sequence 4 equals the committed sequence', bundle(kd, signDirective(directive([m110], { sequence: 4 }), director), [m110]));
  invalid('bundle-downgrade', 'DIRECTIVE_DOWNGRADE', '0.9.0 while 1.0.0 runs, no rollback authorization', bundle(kd, rollbackDirective(), [m090]));
  const rbWrong = signRollback({ component: 'blink', target: sha256(m110), issuedAt: now - 60, expires: now + DAY }, release);
  invalid('bundle-rollback-wrong-target', 'ROLLBACK_INVALID', 'rollback authorization names another release', bundle(kd, rollbackDirective(rbWrong), [m090]));
  const rbByDirector = signRollback({ component: 'blink', target: sha256(m090), issuedAt: now - 60, expires: now + DAY }, director);
  invalid('bundle-rollback-by-director', 'COSE_WRONG_ROLE', 'rollback authorization signed by the server (director) key', bundle(kd, rollbackDirective(rbByDirector), [m090]));
  const mGpio = signReleaseManifest(manifest({ capabilities: ['gpio', 'log'] }), release);
  invalid('bundle-capability', 'CAPABILITY_NOT_GRANTED', 'module needs gpio, the device does not grant it', bundle(kd, signDirective(directive([mGpio]), director), [mGpio]));
  const mBig = signReleaseManifest(manifest({ memory: { maxPages: 16, stack: 16384 } }), release);
  invalid('bundle-memory', 'MEMORY_TOO_LARGE', '16 pages (1 MiB) on a device with 256 KiB', bundle(kd, signDirective(directive([mBig]), director), [mBig]));
  invalid('bundle-manifest-missing', 'DIRECTIVE_MANIFEST_MISSING', 'directive names a manifest the bundle lacks', bundle(kd, validDirective, [m090]));
  const mAbi2 = signReleaseManifest(manifest({ abi: 2 }), release);
  invalid('bundle-abi', 'ABI_UNSUPPORTED', 'manifest for host ABI 2', bundle(kd, signDirective(directive([mAbi2]), director), [mAbi2]));

  // Envelope and CBOR faults
  const protectedBad = encodeCbor(new Map<number, CborValue>([[1, -7], [4, keyId(director.publicKey)]]));
  const badAlg = encodeCbor(new Tag([protectedBad, new Map(), new Uint8Array(8), new Uint8Array(64)], 18));
  invalid('bundle-bad-alg', 'COSE_BAD_ALG', 'directive claims alg -7 (ES256)', bundle(kd, badAlg, [m110]));
  const untagged = encodeCbor([protectedBad, new Map(), new Uint8Array(8), new Uint8Array(64)]);
  invalid('bundle-untagged', 'COSE_MALFORMED', 'directive is a bare array without tag 18', bundle(kd, untagged, [m110]));
  invalid('bundle-truncated', 'CBOR_MALFORMED', 'bundle cut 10 bytes short', valid.subarray(0, valid.length - 10));
  const trailing = new Uint8Array(valid.length + 1);
  trailing.set(valid);
  invalid('bundle-trailing-bytes', 'CBOR_MALFORMED', 'one extra byte after the bundle', trailing);
  // Same bundle with the top-level map header as a 1-byte-length form (b8 03 instead of a3): not shortest.
  const longHead = new Uint8Array(valid.length + 1);
  longHead.set([0xb8, 0x03]);
  longHead.set(valid.subarray(1), 2);
  invalid('bundle-non-canonical-head', 'CBOR_NON_CANONICAL', 'map length written in a longer head than needed', longHead);
  const unsorted = encodeCborUnsorted([[2, validDirective], [1, kd], [3, [m110]]]);
  invalid('bundle-non-canonical-order', 'CBOR_NON_CANONICAL', 'bundle map keys out of order', unsorted);
  const dNonCanon = signSign1(encodeCborUnsorted([[0, 3], [1, 1], [3, 5], [2, context.device], [4, now - 60], [5, now + DAY], [6, ''], [7, [new Map<number, CborValue>([[1, 'blink'], [2, sha256(m110)]])]]]), director);
  invalid('bundle-directive-non-canonical', 'CBOR_NON_CANONICAL', 'directive payload keys out of order (signature valid)', bundle(kd, dNonCanon, [m110]));
  const dUnknown = sealSigned(
    PAYLOAD_TYPE.directive,
    [[2, context.device], [3, 5], [4, now - 60], [5, now + DAY], [6, ''], [7, [new Map<number, CborValue>([[1, 'blink'], [2, sha256(m110)]])]], [99, 'x']],
    director,
  );
  invalid('bundle-unknown-field', 'CBOR_UNKNOWN_FIELD', 'directive payload carries an unknown key 99 (signature valid)', bundle(kd, dUnknown, [m110]));
  const dBadSeq = sealSigned(
    PAYLOAD_TYPE.directive,
    [[2, context.device], [3, 'five'], [4, now - 60], [5, now + DAY], [6, ''], [7, [new Map<number, CborValue>([[1, 'blink'], [2, sha256(m110)]])]]],
    director,
  );
  invalid('bundle-field-type', 'CBOR_FIELD_INVALID', 'directive sequence is text (signature valid)', bundle(kd, dBadSeq, [m110]));
  // Strict profile (protocol.md §1), past a valid signature: the payload decoder decides.
  const dirPayload = (component: Map<number, unknown>, sequence: unknown = 5) =>
    encodeCbor(
      new Map<number, unknown>([[0, PAYLOAD_TYPE.directive], [1, 1], [2, context.device], [3, sequence], [4, now - 60], [5, now + DAY], [6, ''], [7, [component]]]),
    );
  invalid(
    'bundle-signed-undefined-optional',
    'CBOR_UNSUPPORTED',
    'directive component rollback (optional, key 4) is undefined (f7); signature valid',
    bundle(kd, signSign1(dirPayload(new Map<number, unknown>([[1, 'blink'], [2, sha256(m110)], [4, undefined]])), director), [m110]),
  );
  invalid(
    'bundle-signed-tag-in-payload',
    'CBOR_UNSUPPORTED',
    'directive sequence wrapped in tag 1 (epoch date); signature valid',
    bundle(kd, signSign1(dirPayload(new Map<number, unknown>([[1, 'blink'], [2, sha256(m110)]]), new Tag(5, 1)), director), [m110]),
  );
  const oversized = encodeBundle({ keyDocument: kd, directive: validDirective, manifests: [m110, new Uint8Array(2000), new Uint8Array(2000)] });
  const huge = new Uint8Array(33 * 1024);
  huge.set(oversized);
  invalid('bundle-oversized', 'CBOR_TOO_LARGE', '33 KiB, over the 32 KiB bundle bound', huge);

  // ---- root rotation (protocol.md §3.5): a chain walked from the provisioned root ----
  const root2 = seeded('root-2');
  const root3 = seeded('root-3');
  const link2 = signRootLink({ version: 2, publicKey: root2.publicKey, issuedAt: now - 2 * DAY }, root);
  const link3 = signRootLink({ version: 3, publicKey: root3.publicKey, issuedAt: now - DAY }, root2);
  const kd2 = signKeyDocument(keyDoc({ serial: 2 }), root2);
  const kd3 = signKeyDocument(keyDoc({ serial: 3 }), root3);
  const trusts = (version: number, key: Ed25519KeyPair): Partial<VectorContext> => ({ root_version: version, root_key: toHex(key.publicKey) });
  add(
    { name: 'bundle-valid-root-rotated', kind: 'bundle', valid: true, description: 'root rotated once: link 2 signed by the provisioned root, key document by root 2', expect: expectValid(m110, '1.1.0') },
    bundle(kd2, validDirective, [m110], [link2]),
  );
  add(
    {
      name: 'bundle-valid-root-chain-trusted',
      kind: 'bundle',
      valid: true,
      description: 'device already trusts root 2; chain 1→2→3, key document by root 3',
      context: trusts(2, root2),
      expect: expectValid(m110, '1.1.0'),
    },
    bundle(kd3, validDirective, [m110], [link2, link3]),
  );
  invalid(
    'bundle-root-chain-broken',
    'ROOT_CHAIN_BROKEN',
    'link 3 signed by a stranger instead of root 2',
    bundle(kd3, validDirective, [m110], [link2, signRootLink({ version: 3, publicKey: root3.publicKey, issuedAt: now - DAY }, stranger)]),
  );
  invalid(
    'bundle-root-chain-gap',
    'ROOT_CHAIN_BROKEN',
    'the provisioned root signs a link that jumps to version 3',
    bundle(kd3, validDirective, [m110], [signRootLink({ version: 3, publicKey: root3.publicKey, issuedAt: now - DAY }, root)]),
  );
  const link2Flipped = new Uint8Array(link2);
  link2Flipped[link2Flipped.length - 1] ^= 0x01;
  invalid('bundle-root-link-bad-signature', 'COSE_BAD_SIGNATURE', 'link 2 signature has one bit flipped', bundle(kd2, validDirective, [m110], [link2Flipped]));
  invalid(
    'bundle-root-old-alone',
    'ROOT_ROLLBACK',
    'after rotation to root 2, a key document signed by the old root alone (no chain)',
    valid,
    trusts(2, root2),
  );
  invalid('bundle-root-rollback', 'ROOT_ROLLBACK', 'device trusts root 3; the bundle carries the chain up to root 2 only', bundle(kd2, validDirective, [m110], [link2]), trusts(3, root3));
  const forked = seeded('forked-root');
  invalid(
    'bundle-root-fork',
    'ROOT_CHAIN_BROKEN',
    'the retired provisioned root signs another root 2 than the one the device trusts',
    bundle(signKeyDocument(keyDoc({ serial: 2 }), forked), validDirective, [m110], [signRootLink({ version: 2, publicKey: forked.publicKey, issuedAt: now - DAY }, root)]),
    trusts(2, root2),
  );
  invalid(
    'bundle-root-keydoc-by-old-root',
    'COSE_UNKNOWN_KID',
    'chain to root 2, but the key document is signed by the provisioned root',
    bundle(kd, validDirective, [m110], [link2]),
  );

  // ---- a revoked release key: the new key document drops it, so what it signed is refused ----
  const release2 = seeded('release-2');
  const kdRevoked = signKeyDocument(
    keyDoc({ serial: 2, keys: [{ kid: keyId(release2.publicKey), role: 'release', publicKey: release2.publicKey, expires: now + 365 * DAY }, keyDoc().keys[1]] }),
    root,
  );
  invalid('bundle-manifest-revoked-key', 'COSE_UNKNOWN_KID', 'manifest signed by a release key the key document (serial 2) revoked', bundle(kdRevoked, validDirective, [m110]));

  // ---- freshness messages (protocol.md §3.6): device checks on wf/v1/fleet/freshness ----
  const statement = (issuedAt: number, expires: number, signer: Signer = director) => signFreshness({ issuedAt, expires }, signer);
  const freshness = (st: Uint8Array, keydoc = kd, roots?: Uint8Array[]) => encodeFreshnessMessage({ keyDocument: keydoc, statement: st, roots });
  const fresh = statement(now - 600, now + 3000);
  const badFresh = (name: string, reason: ErrorCode, description: string, bytes: Uint8Array, ctx?: Partial<VectorContext>) =>
    add({ name, kind: 'freshness', valid: false, reason, description, ...(ctx ? { context: ctx } : {}) }, bytes);
  add(
    { name: 'freshness-valid', kind: 'freshness', valid: true, description: 'issued 10 min ago, expires in 50 min', context: { last_issued_at: now - 1200 }, expect: { issued_at: now - 600, expires: now + 3000 } },
    freshness(fresh),
  );
  add(
    { name: 'freshness-valid-root-rotated', kind: 'freshness', valid: true, description: 'after a root rotation: chain 1→2, key document by root 2', expect: { issued_at: now - 600, expires: now + 3000 } },
    freshness(fresh, kd2, [link2]),
  );
  badFresh('freshness-expired', 'FRESHNESS_EXPIRED', 'expired 10 min ago (beyond the 300 s skew)', freshness(statement(now - 4200, now - 600)));
  badFresh('freshness-older', 'FRESHNESS_ROLLBACK', 'older than the last statement the device accepted', freshness(fresh), { last_issued_at: now - 300 });
  badFresh('freshness-wrong-role', 'COSE_WRONG_ROLE', 'signed by the release key', freshness(statement(now - 600, now + 3000, release)));
  badFresh('freshness-unknown-kid', 'COSE_UNKNOWN_KID', 'signed by a key not in the key document', freshness(statement(now - 600, now + 3000, stranger)));
  const freshFlipped = new Uint8Array(fresh);
  freshFlipped[freshFlipped.length - 1] ^= 0x01;
  badFresh('freshness-bad-signature', 'COSE_BAD_SIGNATURE', 'statement signature has one bit flipped', freshness(freshFlipped));
  badFresh(
    'freshness-wrong-type',
    'COSE_WRONG_TYPE',
    'a rollback authorization signed by the director key, in the statement slot',
    freshness(signRollback({ component: 'blink', target: sha256(m090), issuedAt: now - 60, expires: now + DAY }, director)),
  );
  badFresh('freshness-keydoc-rollback', 'KEYDOC_ROLLBACK', 'key document serial 1 while the device stores serial 2', freshness(fresh), { keydoc_serial: 2 });
  badFresh('freshness-root-old-alone', 'ROOT_ROLLBACK', 'after rotation to root 2, a message under the old root alone', freshness(fresh), trusts(2, root2));

  // ---- other messages: strict decode ----
  const digest = sha256(IMAGE);
  add(
    { name: 'chunk-response-valid', kind: 'chunk_response', valid: true, description: 'chunk 0 with 4 bytes', expect: { sha256: toHex(digest), index: 0, data: '00010203' } },
    encodeChunkResponse({ sha256: digest, index: 0, data: new Uint8Array([0, 1, 2, 3]) }),
  );
  add(
    { name: 'chunk-response-error', kind: 'chunk_response', valid: true, description: 'server cannot serve the blob', expect: { sha256: toHex(digest), index: 7, error: 'CHUNK_UNKNOWN_BLOB' } },
    encodeChunkResponse({ sha256: digest, index: 7, error: 'CHUNK_UNKNOWN_BLOB' }),
  );
  const badChunk = (name: string, reason: ErrorCode, description: string, bytes: Uint8Array) =>
    add({ name, kind: 'chunk_response', valid: false, reason, description }, bytes);
  badChunk('chunk-response-both', 'CBOR_FIELD_INVALID', 'data and error together', encodeCbor(new Map<number, CborValue>([[1, digest], [2, 0], [3, new Uint8Array(1)], [4, 'INTERNAL']])));
  badChunk('chunk-response-short-digest', 'CBOR_FIELD_INVALID', 'digest of 31 bytes', encodeCbor(new Map<number, CborValue>([[1, digest.subarray(0, 31)], [2, 0], [3, new Uint8Array(1)]])));
  badChunk('chunk-response-unknown-field', 'CBOR_UNKNOWN_FIELD', 'unknown key 9', encodeCbor(new Map<number, CborValue>([[1, digest], [2, 0], [3, new Uint8Array(1)], [9, 0]])));
  const chunkValid = encodeChunkResponse({ sha256: digest, index: 0, data: new Uint8Array([0, 1, 2, 3]) });
  badChunk('chunk-response-truncated', 'CBOR_MALFORMED', 'cut inside the data', chunkValid.subarray(0, chunkValid.length - 2));
  badChunk('chunk-response-negative-index', 'CBOR_FIELD_INVALID', 'index -1', encodeCbor(new Map<number, CborValue>([[1, digest], [2, -1], [3, new Uint8Array(1)]])));

  add(
    { name: 'chunk-request-valid', kind: 'chunk_request', valid: true, description: 'chunk 3 of 4 KiB', expect: { sha256: toHex(digest), index: 3, chunk_size: 4096 } },
    encodeChunkRequest({ sha256: digest, index: 3, chunkSize: 4096 }),
  );
  add(
    { name: 'chunk-request-tiny-chunk', kind: 'chunk_request', valid: false, reason: 'CBOR_FIELD_INVALID', description: 'chunk size 16 < 256' },
    encodeCbor(new Map<number, CborValue>([[1, digest], [2, 3], [3, 16]])),
  );
  add(
    {
      name: 'hello-valid',
      kind: 'hello',
      valid: true,
      description: 'a WAMR host',
      expect: { host: 'wamr', abi: 1, capabilities: ['clock', 'log'], max_chunk: 4096, memory: 262144, agent: 'wasmfleet-device/0.1.0' },
    },
    encodeHello({ host: 'wamr', abi: 1, capabilities: ['clock', 'log'], maxChunk: 4096, memory: 262144, agent: 'wasmfleet-device/0.1.0' }),
  );
  const badHello = (name: string, reason: ErrorCode, description: string, bytes: Uint8Array) =>
    add({ name, kind: 'hello', valid: false, reason, description }, bytes);
  badHello('hello-shared-value-bomb', 'CBOR_UNSUPPORTED', 'tags 28/29: 245 bytes standing for 2^26 values, refused at the first tag', sharedValueBomb(26));
  badHello('hello-undefined', 'CBOR_UNSUPPORTED', 'memory is undefined (f7)', helloWith(5, new Uint8Array([0xf7])));
  badHello('hello-float-memory', 'CBOR_UNSUPPORTED', 'memory is float64 262144.0', helloWith(5, new Uint8Array([0xfb, 0x41, 0x10, 0, 0, 0, 0, 0, 0])));
  badHello('hello-lone-break', 'CBOR_MALFORMED', 'a lone break byte', new Uint8Array([0xff]));
  add(
    { name: 'report-indefinite-map', kind: 'report', valid: false, reason: 'CBOR_NON_CANONICAL', description: 'the valid report with an indefinite-length map head' },
    indefiniteMap(encodeReport({ state: 'downloading', sequence: 4, running: [], targetSequence: 5, progress: { bytes: 2048, total: 4096 }, time: now })),
  );
  add(
    { name: 'chunk-request-bignum-index', kind: 'chunk_request', valid: false, reason: 'CBOR_UNSUPPORTED', description: 'index as a tag 2 bignum' },
    encodeCborRaw([[1, encodeCbor(digest)], [2, new Uint8Array([0xc2, 0x41, 0x03])], [3, encodeCbor(4096)]]),
  );
  add(
    {
      name: 'report-valid',
      kind: 'report',
      valid: true,
      description: 'downloading, half done',
      expect: { state: 'downloading', sequence: 4, target_sequence: 5, progress: { bytes: 2048, total: 4096 }, time: now },
    },
    encodeReport({ state: 'downloading', sequence: 4, running: [], targetSequence: 5, progress: { bytes: 2048, total: 4096 }, time: now }),
  );
  add(
    { name: 'report-bad-state', kind: 'report', valid: false, reason: 'CBOR_FIELD_INVALID', description: 'state "exploded" is not a state' },
    encodeCbor(new Map<number, CborValue>([[1, 'exploded'], [3, 4], [4, []], [8, now]])),
  );

  return {
    index: { format: 1, root_public_key: toHex(root.publicKey), context, vectors },
    files,
  };
}

/** A signature with its scalar s replaced by s + L: the same point equation, a different encoding. */
function withScalarPlusL(cose: Uint8Array): Uint8Array {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const out = new Uint8Array(cose);
  const at = out.length - 32;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(out[at + i]);
  s += L;
  for (let i = 0; i < 32; i++) out[at + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** `{7: [shareable [], shareable [ref 0, ref 0], …]}`: 2^levels values once a decoder resolves tags 28/29. */
export function sharedValueBomb(levels: number): Uint8Array {
  const ref = (i: number) => (i < 24 ? [0xd8, 0x1d, i] : [0xd8, 0x1d, 0x18, i]);
  const parts: number[] = [0xd8, 0x1c, 0x80];
  for (let k = 1; k <= levels; k++) parts.push(0xd8, 0x1c, 0x82, ...ref(k - 1), ...ref(k - 1));
  const n = levels + 1;
  return new Uint8Array([0xa1, 0x07, ...(n < 24 ? [0x80 + n] : [0x98, n]), ...parts]);
}

/** A map of already-encoded values, keys in the given order. */
function encodeCborRaw(entries: Array<[number, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0xa0 + entries.length])];
  for (const [k, v] of entries) parts.push(encodeCbor(k), v);
  return new Uint8Array(Buffer.concat(parts));
}

/** The vector hello with the value of `key` replaced by raw bytes. */
function helloWith(key: number, raw: Uint8Array): Uint8Array {
  const fields: Array<[number, unknown]> = [[1, 'wamr'], [2, 1], [3, ['clock', 'log']], [4, 4096], [5, 262144], [6, 'wasmfleet-device/0.1.0']];
  return encodeCborRaw(fields.map(([k, v]) => [k, k === key ? raw : encodeCbor(v)]));
}

/** A definite map (head a0+n, n < 24) rewritten with an indefinite head and a break. */
function indefiniteMap(bytes: Uint8Array): Uint8Array {
  return new Uint8Array([0xbf, ...bytes.subarray(1), 0xff]);
}

/** Encode a map with keys in the given (wrong) order, bypassing canonical sorting. */
function encodeCborUnsorted(entries: Array<[number, CborValue]>): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0xa0 + entries.length])];
  for (const [k, v] of entries) parts.push(encodeCbor(k), encodeCbor(v));
  return new Uint8Array(Buffer.concat(parts));
}
