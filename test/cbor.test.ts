// Strict, deterministic CBOR: what every decoder refuses, with which code.
import { describe, expect, it } from 'vitest';
import { decodeCbor, decodeChunkRequest, decodeHello, encodeCbor, encodeHello, WfError } from '../protocol/index.js';

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const code = (f: () => unknown) => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    expect(e).toBeInstanceOf(WfError);
    return (e as WfError).code;
  }
};
const decode = (h: string) => decodeCbor(hex(h), { what: 't', maxBytes: 64 });

describe('canonical CBOR', () => {
  it('encodes maps with sorted integer keys, plain byte strings and no tags', () => {
    const bytes = encodeCbor(new Map<number, unknown>([[4, new Uint8Array([1, 2])], [1, -8]]));
    expect(Buffer.from(bytes).toString('hex')).toBe('a201270442' + '0102');
  });

  it('encodes integers beyond 32 bits as integers, not floats', () => {
    expect(Buffer.from(encodeCbor(2 ** 40)).toString('hex')).toBe('1b0000010000000000');
  });

  it.each([
    ['1800', 'non-shortest integer head', 'CBOR_NON_CANONICAL'],
    ['a2020101 01'.replace(' ', ''), 'unsorted keys', 'CBOR_NON_CANONICAL'],
    ['a201010102', 'duplicate keys', 'CBOR_NON_CANONICAL'],
    ['9f01ff', 'indefinite-length array', 'CBOR_NON_CANONICAL'],
    ['d8404101', 'tag 64 typed array', 'CBOR_NON_CANONICAL'],
    ['0101', 'trailing bytes', 'CBOR_MALFORMED'],
    ['a1', 'truncated map', 'CBOR_MALFORMED'],
    ['5f4101ff', 'indefinite byte string', 'CBOR_MALFORMED'],
    ['', 'empty input', 'CBOR_MALFORMED'],
  ])('%s (%s) → %s', (h, _what, expected) => {
    expect(code(() => decode(h))).toBe(expected);
  });

  it('bounds the size before parsing', () => {
    expect(code(() => decodeCbor(new Uint8Array(65), { what: 't', maxBytes: 64 }))).toBe('CBOR_TOO_LARGE');
  });

  it('names the field that is wrong, missing or unknown', () => {
    const hello = { host: 'v8' as const, abi: 1, capabilities: ['log'], maxChunk: 4096, memory: 65536, agent: 'x' };
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    const withExtra = encodeCbor(new Map<number, unknown>([[1, 'v8'], [2, 1], [3, []], [4, 4096], [5, 1], [6, 'a'], [42, 0]]));
    expect(code(() => decodeHello(withExtra))).toBe('CBOR_UNKNOWN_FIELD');
    const missing = encodeCbor(new Map<number, unknown>([[1, 'v8'], [2, 1]]));
    expect(() => decodeHello(missing)).toThrow(/hello\.capabilities \(key 3\)/);
    const wrongType = encodeCbor(new Map<number, unknown>([[1, new Uint8Array(32)], [2, 'x'], [3, 4096]]));
    expect(() => decodeChunkRequest(wrongType)).toThrow(/chunk request\.index \(key 2\): expected an unsigned integer/);
  });

  it('never throws an untyped exception on random input', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    for (let i = 0; i < 3000; i++) {
      const bytes = new Uint8Array(1 + (i % 40)).map(rnd);
      try {
        decodeHello(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(WfError);
      }
    }
  });
});
