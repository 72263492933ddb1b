// The simulator's shared work (docs/device-sim.md, "Signature memo" and "Shared work"): one
// process of many devices verifies each exact (bytes, signature, key) once and checks each image's
// ABI once, and no verdict changes: bytes that differ by one bit, another key, a forged signature
// are refused as before, and what depends on the device is checked for every device.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abiOfImage, chunkRequestBytes } from '../device-sim/shared-work.js';
import { checkModuleImports } from '../device-sim/update-steps.js';
import {
  checkBundle,
  checkFreshness,
  decodeBundle,
  encodeBundle,
  encodeChunkRequest,
  fromHex,
  generateKeyPair,
  memoizeEd25519Verify,
  sha256,
  signEd25519,
  toHex,
  verifyEd25519,
  WfError,
  type DeviceContext,
} from '../protocol/index.js';
import { MEMO_MAX_MESSAGE_BYTES, VerifyMemo } from '../protocol/verify-memo.js';
import type { VectorContext, VectorEntry } from '../protocol/vector-builder.js';
import { AgentHarness, NOW, Signer, until, wasm, type Release } from './device-fixture.js';

const flip = (bytes: Uint8Array, at: number, bit = 0): Uint8Array => {
  const copy = new Uint8Array(bytes);
  copy[at] ^= 1 << bit;
  return copy;
};

/** The reason code `fn` throws, or 'ok'. */
function verdict(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof WfError) return err.code;
    throw err;
  }
}

afterEach(() => {
  memoizeEd25519Verify(0);
});

describe('VerifyMemo: one verification per exact (message, signature, key)', () => {
  const kp = generateKeyPair();
  const other = generateKeyPair();
  const message = new TextEncoder().encode('the same key document, 1,000 times');
  const signature = signEd25519(message, kp.seed);

  /** A memo and a counter of the verifications it actually ran. */
  function counted(maxEntries = 16) {
    const memo = new VerifyMemo(maxEntries);
    let runs = 0;
    const verify = (m: Uint8Array, s: Uint8Array, k: Uint8Array) =>
      memo.verify(m, s, k, (a, b, c) => {
        runs++;
        return verifyEd25519(a, b, c);
      });
    return { memo, verify, runs: () => runs };
  }

  it('verifies the same bytes once and gives the same answer after', () => {
    const c = counted();
    expect(c.verify(message, signature, kp.publicKey)).toBe(true);
    expect(c.verify(new Uint8Array(message), new Uint8Array(signature), new Uint8Array(kp.publicKey))).toBe(true);
    expect(c.runs()).toBe(1);
    expect(c.memo.hits).toBe(1);
  });

  it('never accepts a message, signature or key that differs by one bit from one it accepted', () => {
    const c = counted(4096);
    expect(c.verify(message, signature, kp.publicKey)).toBe(true);
    for (let at = 0; at < message.length; at++) for (let bit = 0; bit < 8; bit++) expect(c.verify(flip(message, at, bit), signature, kp.publicKey)).toBe(false);
    for (let at = 0; at < 64; at++) expect(c.verify(message, flip(signature, at, at % 8), kp.publicKey)).toBe(false);
    for (let at = 0; at < 32; at++) expect(c.verify(message, signature, flip(kp.publicKey, at, at % 8))).toBe(false);
    expect(c.verify(message, signature, other.publicKey)).toBe(false);
    // Each of those was a verification of its own, not an answer remembered for other bytes.
    expect(c.runs()).toBe(1 + message.length * 8 + 64 + 32 + 1);
    expect(c.verify(message, signature, kp.publicKey)).toBe(true);
  });

  it('refuses a forged signature after a good one over the same payload, and accepts the good one after a forged one', () => {
    const c = counted();
    const forged = signEd25519(message, other.seed); // well formed, by the wrong key
    expect(c.verify(message, signature, kp.publicKey)).toBe(true);
    expect(c.verify(message, forged, kp.publicKey)).toBe(false);
    expect(c.verify(message, forged, kp.publicKey)).toBe(false);
    const fresh = counted();
    expect(fresh.verify(message, forged, kp.publicKey)).toBe(false);
    expect(fresh.verify(message, signature, kp.publicKey)).toBe(true);
  });

  it('keys on exact bytes: moving a byte between signature and message is another input', () => {
    const memo = new VerifyMemo(8);
    const seen: string[] = [];
    const record = (m: Uint8Array, s: Uint8Array) => (seen.push(`${toHex(s)}|${toHex(m)}`), true);
    const k = new Uint8Array(32);
    memo.verify(new Uint8Array([3, 4]), new Uint8Array([1, 2]), k, record);
    memo.verify(new Uint8Array([2, 3, 4]), new Uint8Array([1]), k, record);
    expect(seen).toEqual(['0102|0304', '01|020304']);
  });

  it('is bounded, forgets the least recently used first, and does not keep long messages', () => {
    const c = counted(4);
    const msgs = Array.from({ length: 6 }, (_, i) => new TextEncoder().encode(`message ${i}`));
    const sigs = msgs.map((m) => signEd25519(m, kp.seed));
    for (let i = 0; i < 4; i++) c.verify(msgs[i], sigs[i], kp.publicKey);
    c.verify(msgs[0], sigs[0], kp.publicKey); // used again: now the most recent
    c.verify(msgs[4], sigs[4], kp.publicKey); // full: message 1 goes
    expect(c.memo.size).toBe(4);
    const before = c.runs();
    c.verify(msgs[0], sigs[0], kp.publicKey);
    expect(c.runs()).toBe(before);
    c.verify(msgs[1], sigs[1], kp.publicKey);
    expect(c.runs()).toBe(before + 1);
    const long = new Uint8Array(MEMO_MAX_MESSAGE_BYTES + 1);
    const longSig = signEd25519(long, kp.seed);
    c.verify(long, longSig, kp.publicKey);
    c.verify(long, longSig, kp.publicKey);
    expect(c.runs()).toBe(before + 3);
  });
});

describe('device checks with the process-wide memo on', () => {
  const signer = new Signer();
  let release: Release;

  beforeAll(async () => {
    release = signer.releaseOf(await wasm('counter'), 'app', '1.0.0');
  });

  const ctx = (deviceId: string): DeviceContext => ({
    rootPublicKey: signer.root.publicKey,
    keydocSerial: 0,
    now: NOW(),
    deviceId,
    capabilities: ['gpio', 'kv', 'log', 'sensor', 'telemetry', 'time'],
    memory: 1 << 20,
    committedSequence: 0,
    running: new Map(),
  });

  it('refuses a key document, manifest or directive changed by one bit after a good bundle with the same documents passed', () => {
    const memo = memoizeEd25519Verify(64)!;
    const good = signer.bundle({ device: 'dev-a', sequence: 1, releases: [release] });
    expect(verdict(() => checkBundle(good, ctx('dev-a')))).toBe('ok');
    const again = signer.bundle({ device: 'dev-b', sequence: 1, releases: [release] });
    expect(verdict(() => checkBundle(again, ctx('dev-b')))).toBe('ok');
    expect(memo.hits).toBeGreaterThanOrEqual(2); // dev-b's key document and manifest: remembered

    const parts = decodeBundle(again);
    const sigAt = (cose: Uint8Array) => cose.length - 64; // COSE_Sign1 ends with the 64-byte signature
    const payloadAt = (cose: Uint8Array) => Math.floor(cose.length / 2); // inside the payload byte string
    // The key document: forged signature; then a payload bit (the signature left as it was).
    for (const keyDocument of [flip(parts.keyDocument, sigAt(parts.keyDocument)), flip(parts.keyDocument, payloadAt(parts.keyDocument))]) {
      expect(verdict(() => checkBundle(encodeBundle({ ...parts, keyDocument }), ctx('dev-b')))).toBe('COSE_BAD_SIGNATURE');
    }
    // The manifest: the directive must name the changed bytes, or they would not be looked at.
    for (const manifest of [flip(release.manifest, sigAt(release.manifest)), flip(release.manifest, payloadAt(release.manifest))]) {
      const lie = { ...release, manifest, digest: sha256(manifest) };
      expect(verdict(() => checkBundle(signer.bundle({ device: 'dev-c', sequence: 1, releases: [lie] }), ctx('dev-c')))).toBe('COSE_BAD_SIGNATURE');
    }
    expect(verdict(() => checkBundle(encodeBundle({ ...parts, directive: flip(parts.directive, sigAt(parts.directive)) }), ctx('dev-b')))).toBe('COSE_BAD_SIGNATURE');
    // The good bundle is still good, and the per-device checks still run on remembered documents.
    expect(verdict(() => checkBundle(again, ctx('dev-b')))).toBe('ok');
    expect(verdict(() => checkBundle(again, ctx('dev-a')))).toBe('DIRECTIVE_WRONG_DEVICE');
    expect(verdict(() => checkBundle(again, { ...ctx('dev-b'), committedSequence: 1 }))).toBe('DIRECTIVE_REPLAY');
    expect(verdict(() => checkBundle(again, { ...ctx('dev-b'), keydocSerial: 2 }))).toBe('KEYDOC_ROLLBACK');
    expect(verdict(() => checkBundle(again, { ...ctx('dev-b'), now: NOW() + 2 * 86400 }))).toBe('DIRECTIVE_EXPIRED');
    expect(verdict(() => checkBundle(again, { ...ctx('dev-b'), capabilities: ['kv'] }))).toBe('CAPABILITY_NOT_GRANTED');
    expect(verdict(() => checkBundle(again, { ...ctx('dev-b'), rootPublicKey: signer.stranger.publicKey }))).toBe('COSE_UNKNOWN_KID');
  });

  it('gives every test vector the same verdict as without it, also when every signature is remembered', () => {
    const dir = 'protocol/vectors';
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { root_public_key: string; context: VectorContext; vectors: VectorEntry[] };
    const checked = index.vectors.filter((v) => v.kind === 'bundle' || v.kind === 'freshness');
    const run = (v: VectorEntry): string => {
      const c: VectorContext = { ...index.context, ...(v.context ?? {}) };
      const bytes = new Uint8Array(readFileSync(join(dir, v.file)));
      const trust = {
        rootPublicKey: fromHex(index.root_public_key),
        ...(c.root_version !== undefined && c.root_key ? { root: { version: c.root_version, publicKey: fromHex(c.root_key) } } : {}),
        keydocSerial: c.keydoc_serial,
        now: c.now,
        skew: c.skew,
      };
      return verdict(() =>
        v.kind === 'freshness'
          ? checkFreshness(bytes, { ...trust, lastIssuedAt: c.last_issued_at })
          : checkBundle(bytes, {
              ...trust,
              deviceId: c.device,
              capabilities: c.capabilities,
              memory: c.memory,
              committedSequence: c.committed_sequence,
              running: new Map([[c.running.component, { version: c.running.version, manifestDigest: fromHex(c.running.manifest) }]]),
            }),
      );
    };
    memoizeEd25519Verify(0);
    const without = checked.map(run);
    expect(without).toEqual(checked.map((v) => (v.valid ? 'ok' : v.reason)));
    const memo = memoizeEd25519Verify(1024)!;
    expect(checked.map(run)).toEqual(without);
    const misses = memo.misses;
    expect(checked.map(run)).toEqual(without);
    expect(memo.misses).toBe(misses); // the second pass was answered from the memo
    expect(memo.hits).toBeGreaterThan(checked.length);
  });
});

describe('shared work of the simulator', () => {
  it('checks the grant for every device though the ABI check of the image is shared', async () => {
    const blink = await wasm('blink'); // imports gpio
    const digest = toHex(sha256(blink));
    checkModuleImports(blink, ['gpio', 'kv', 'log', 'telemetry', 'time'], digest);
    expect(abiOfImage(blink, digest).capabilities).toContain('gpio');
    expect(verdict(() => checkModuleImports(blink, ['kv', 'log', 'telemetry', 'time'], digest))).toBe('CAPABILITY_NOT_GRANTED');
  });

  it('does not remember a module that fails the check', () => {
    const broken = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff]);
    const digest = toHex(sha256(broken));
    expect(verdict(() => checkModuleImports(broken, [], digest))).toBe('MODULE_INVALID');
    expect(verdict(() => checkModuleImports(broken, [], digest))).toBe('MODULE_INVALID');
  });

  it('encodes each chunk request as the protocol does, one per image, index and chunk size', () => {
    const a = { sha256: sha256(new Uint8Array([1])), index: 3, chunkSize: 4096 };
    expect(toHex(chunkRequestBytes(a))).toBe(toHex(encodeChunkRequest(a)));
    for (const b of [{ ...a, index: 4 }, { ...a, chunkSize: 1024 }, { ...a, sha256: sha256(new Uint8Array([2])) }]) {
      expect(toHex(chunkRequestBytes(b))).toBe(toHex(encodeChunkRequest(b)));
      expect(toHex(chunkRequestBytes(b))).not.toBe(toHex(chunkRequestBytes(a)));
    }
  });
});

describe('devices in one process with the memo on (real broker, real agents)', () => {
  const h = new AgentHarness('memo', 1);
  let good: Release;

  beforeAll(async () => {
    await h.open();
    const counter = await wasm('counter');
    h.server.addImage(counter);
    good = h.signer.releaseOf(counter, 'app', '1.0.0');
  });

  afterAll(() => h.close());

  it('a second device refuses a forged manifest of the release the first one committed', async () => {
    memoizeEd25519Verify(256);
    const first = await h.boot(h.options({ chunkSize: 1024, probation: { ticks: 1 } }));
    const second = await h.boot(h.options({ chunkSize: 1024, probation: { ticks: 1 } }));
    await until('online', () => first.status().connected && second.status().connected);
    await h.server.publishDirective(first.id, h.signer.bundle({ device: first.id, sequence: 1, releases: [good] }));
    await until('first committed', () => h.server.last(first.id)?.state === 'committed');
    const manifest = flip(good.manifest, good.manifest.length - 64);
    const forged = { ...good, manifest, digest: sha256(manifest) };
    await h.server.publishDirective(second.id, h.signer.bundle({ device: second.id, sequence: 1, releases: [forged] }));
    const r = await until('second refused', () => (h.server.last(second.id)?.state === 'failed' ? h.server.last(second.id) : undefined));
    expect(r).toMatchObject({ state: 'failed', reason: 'COSE_BAD_SIGNATURE', sequence: 0 });
    expect(second.status().running).toEqual([]);
  });
});
