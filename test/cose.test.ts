// COSE_Sign1 against an independent implementation (@auth0/cose) both ways, and our two Ed25519
// paths (node:crypto on hot paths, tweetnacl as the reference) against each other.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Sign1 as AuthSign1 } from '@auth0/cose';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  ALG_EDDSA,
  encodeCbor,
  generateKeyPair,
  keyId,
  parseSign1,
  sigStructure,
  signEd25519,
  signSign1,
  tweetnaclEd25519,
  verifyEd25519,
  verifySign1,
  WfError,
} from '../protocol/index.js';

const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const nodeKeys = (kp: { seed: Uint8Array; publicKey: Uint8Array }) => ({
  priv: createPrivateKey({ key: Buffer.concat([PKCS8, kp.seed]), format: 'der', type: 'pkcs8' }),
  pub: createPublicKey({ key: Buffer.concat([SPKI, kp.publicKey]), format: 'der', type: 'spki' }),
});

describe('Ed25519 paths agree', () => {
  it('node:crypto and tweetnacl produce identical signatures and accept each other', () => {
    for (let i = 0; i < 20; i++) {
      const kp = generateKeyPair();
      const msg = new Uint8Array(Buffer.from(`message ${i} ${'x'.repeat(i * 13)}`));
      const fast = signEd25519(msg, kp.seed);
      const ref = tweetnaclEd25519.sign(msg, kp.seed);
      expect(Buffer.from(fast).equals(Buffer.from(ref))).toBe(true);
      expect(tweetnaclEd25519.verify(msg, fast, kp.publicKey)).toBe(true);
      expect(verifyEd25519(msg, ref, kp.publicKey)).toBe(true);
      const bad = new Uint8Array(fast);
      bad[5] ^= 4;
      expect(verifyEd25519(msg, bad, kp.publicKey)).toBe(false);
      expect(tweetnaclEd25519.verify(msg, bad, kp.publicKey)).toBe(false);
    }
  });

  it('refuses a malleable signature (s + L, RFC 8032 §5.1.7) on every path, though bare tweetnacl takes it', () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
    const scalar = (b: Uint8Array) => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
    for (let i = 0; i < 10; i++) {
      const kp = generateKeyPair();
      const msg = new Uint8Array(Buffer.from(`malleable ${i}`));
      const sig = signEd25519(msg, kp.seed);
      const twin = new Uint8Array(sig);
      twin.set(le(scalar(sig.subarray(32)) + L), 32);
      expect(nacl.sign.detached.verify(msg, twin, kp.publicKey), 'the hazard: tweetnacl alone accepts s + L').toBe(true);
      expect(verifyEd25519(msg, twin, kp.publicKey), 'node:crypto path').toBe(false);
      expect(tweetnaclEd25519.verify(msg, twin, kp.publicKey), 'tweetnacl reference path').toBe(false);
      expect(verifyEd25519(msg, sig, kp.publicKey) && tweetnaclEd25519.verify(msg, sig, kp.publicKey)).toBe(true);
      // s = L exactly, and the largest 256-bit s, are refused as well
      const atL = new Uint8Array(sig);
      atL.set(le(L), 32);
      expect([verifyEd25519(msg, atL, kp.publicKey), tweetnaclEd25519.verify(msg, atL, kp.publicKey)]).toEqual([false, false]);
    }
  });

  it('rejects an invalid public key without throwing', () => {
    expect(verifyEd25519(new Uint8Array(3), new Uint8Array(64), new Uint8Array(31))).toBe(false);
  });
});

describe('COSE_Sign1 cross-check with @auth0/cose', () => {
  it('our signatures verify in @auth0/cose', async () => {
    const kp = generateKeyPair();
    const payload = encodeCbor(new Map<number, unknown>([[0, 3], [1, 1], [2, 'dev-1']]));
    const ours = signSign1(payload, kp);
    const decoded = AuthSign1.decode(ours);
    await decoded.verify(nodeKeys(kp).pub);
    expect(Buffer.from(decoded.payload).equals(Buffer.from(payload))).toBe(true);
  });

  it('@auth0/cose signatures verify with ours, byte for byte the same as ours', async () => {
    const kp = generateKeyPair();
    const payload = encodeCbor(new Map<number, unknown>([[0, 2], [1, 1], [2, 'blink']]));
    const theirs = await AuthSign1.sign(new Map<number, unknown>([[1, ALG_EDDSA], [4, keyId(kp.publicKey)]]) as never, new Map() as never, payload, nodeKeys(kp).priv);
    const bytes = theirs.encode();
    const parsed = parseSign1(bytes, 'auth0 message', 4096);
    expect(verifySign1(parsed, kp.publicKey)).toBe(true);
    expect(Buffer.from(parsed.kid).equals(Buffer.from(keyId(kp.publicKey)))).toBe(true);
    // Deterministic CBOR + deterministic Ed25519: both libraries produce the same bytes.
    expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(signSign1(payload, kp)).toString('hex'));
  });

  it('a signature over other protected bytes does not verify (verification uses the bytes as received)', () => {
    const kp = generateKeyPair();
    const payload = encodeCbor(new Map([[0, 3]]));
    const msg = parseSign1(signSign1(payload, kp), 'm', 4096);
    expect(verifySign1(msg, kp.publicKey)).toBe(true);
    const other = encodeCbor(new Map<number, unknown>([[1, -19], [4, keyId(kp.publicKey)]]));
    expect(verifySign1({ ...msg, protectedBytes: other }, kp.publicKey)).toBe(false);
    expect(sigStructure(other, payload)).not.toEqual(sigStructure(msg.protectedBytes, payload));
  });

  it('refuses a forged signature and a wrong key', () => {
    const kp = generateKeyPair();
    const other = generateKeyPair();
    const msg = parseSign1(signSign1(encodeCbor(1), kp), 'm', 4096);
    expect(verifySign1(msg, other.publicKey)).toBe(false);
    const forged = { ...msg, signature: signEd25519(sigStructure(msg.protectedBytes, msg.payload), other.seed) };
    expect(verifySign1(forged, kp.publicKey)).toBe(false);
  });

  it('names the failure for malformed envelopes', () => {
    const code = (bytes: Uint8Array) => {
      try {
        parseSign1(bytes, 'x', 4096);
        return 'accepted';
      } catch (e) {
        return (e as WfError).code;
      }
    };
    expect(code(new Uint8Array([0xd2]))).toBe('CBOR_MALFORMED');
    expect(code(encodeCbor([1, 2, 3, 4]))).toBe('COSE_MALFORMED');
    expect(code(new Uint8Array(5000))).toBe('CBOR_TOO_LARGE');
  });
});
