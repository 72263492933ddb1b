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

  it('sorts unsigned integer keys of every head length by their encoding, whatever the insertion order', () => {
    const keys = [4294967295, 65536, 0, 24, 23, 255, 256, 65535, 1];
    const encodings = new Set<string>();
    for (let shift = 0; shift < keys.length; shift++) {
      const order = [...keys.slice(shift), ...keys.slice(0, shift)];
      const bytes = encodeCbor(new Map(order.map((k) => [k, k % 7])));
      encodings.add(Buffer.from(bytes).toString('hex'));
      // The strict decoder refuses keys out of canonical order.
      expect([...(decodeCbor(bytes, { what: 't', maxBytes: 256 }) as Map<number, unknown>).keys()]).toEqual([...keys].sort((a, b) => a - b));
    }
    expect(encodings.size).toBe(1);
    // Other keys (negative, text, -0) are sorted by their encoded bytes as before: 1, -1, then "a".
    const mixed = encodeCbor(new Map<number | string, unknown>([['a', 1], [-1, 2], [1, 3]]));
    expect(Buffer.from(mixed).toString('hex')).toBe('a30103200261610' + '1');
  });

  it('encodes integers beyond 32 bits as integers, not floats', () => {
    expect(Buffer.from(encodeCbor(2 ** 40)).toString('hex')).toBe('1b0000010000000000');
  });

  it.each([
    ['1800', 'non-shortest integer head', 'CBOR_NON_CANONICAL'],
    ['a2020101 01'.replace(' ', ''), 'unsorted keys', 'CBOR_NON_CANONICAL'],
    ['a201010102', 'duplicate keys', 'CBOR_NON_CANONICAL'],
    ['9f01ff', 'indefinite-length array', 'CBOR_NON_CANONICAL'],
    ['5f4101ff', 'indefinite byte string', 'CBOR_NON_CANONICAL'],
    ['62c328', 'text that is not UTF-8', 'CBOR_NON_CANONICAL'],
    ['0101', 'trailing bytes', 'CBOR_MALFORMED'],
    ['a1', 'truncated map', 'CBOR_MALFORMED'],
    ['', 'empty input', 'CBOR_MALFORMED'],
    ['ff', 'a lone break byte', 'CBOR_MALFORMED'],
    ['8101ff', 'a break inside a definite array', 'CBOR_MALFORMED'],
    ['1c', 'reserved additional information 28', 'CBOR_MALFORMED'],
    ['f810', 'two-byte simple value below 32', 'CBOR_MALFORMED'],
    ['df00', 'indefinite tag', 'CBOR_MALFORMED'],
    ['818181818181818181818181818100', 'nesting deeper than 12', 'CBOR_MALFORMED'],
    ['d8404101', 'tag 64 typed array', 'CBOR_UNSUPPORTED'],
    ['c11a5f5e1000', 'tag 1 epoch date (cbor-x: Date)', 'CBOR_UNSUPPORTED'],
    ['c24101', 'tag 2 bignum (cbor-x: BigInt)', 'CBOR_UNSUPPORTED'],
    ['d8236161', 'tag 35 regular expression (cbor-x: RegExp)', 'CBOR_UNSUPPORTED'],
    ['d9010280', 'tag 258 set (cbor-x: Set)', 'CBOR_UNSUPPORTED'],
    ['d81c80', 'tag 28 shareable', 'CBOR_UNSUPPORTED'],
    ['d81d00', 'tag 29 shared reference', 'CBOR_UNSUPPORTED'],
    ['d81b8261786101', 'tag 27 serialised object', 'CBOR_UNSUPPORTED'],
    ['f7', 'undefined', 'CBOR_UNSUPPORTED'],
    ['a101f7', 'undefined as a map value', 'CBOR_UNSUPPORTED'],
    ['f0', 'simple value 16', 'CBOR_UNSUPPORTED'],
    ['f820', 'simple value 32', 'CBOR_UNSUPPORTED'],
    ['fb3ff8000000000000', 'a float outside telemetry', 'CBOR_UNSUPPORTED'],
    ['8218018201c100', 'a tag after a longer head: refused at once', 'CBOR_UNSUPPORTED'],
    ['82f71c', 'undefined before a malformed tail: refused at once', 'CBOR_UNSUPPORTED'],
  ])('%s (%s) → %s', (h, _what, expected) => {
    expect(code(() => decode(h))).toBe(expected);
  });

  it('accepts false, true and null, and float64 only where the message has floats', () => {
    expect(decode('83f4f5f6')).toEqual([false, true, null]);
    expect(decodeCbor(hex('fb3ff8000000000000'), { what: 't', maxBytes: 64, floats: true })).toBe(1.5);
    expect(code(() => decodeCbor(hex('f93c00'), { what: 't', maxBytes: 64, floats: true }))).toBe('CBOR_NON_CANONICAL');
  });

  it('bounds the item count: 4096 items pass, 4097 are CBOR_TOO_LARGE', () => {
    const items = (n: number) => new Uint8Array([0x99, (n - 1) >> 8, (n - 1) & 0xff, ...new Uint8Array(n - 1)]);
    expect((decodeCbor(items(4096), { what: 't', maxBytes: 8192 }) as unknown[]).length).toBe(4095);
    expect(code(() => decodeCbor(items(4097), { what: 't', maxBytes: 8192 }))).toBe('CBOR_TOO_LARGE');
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

  it('chunk requests: every index and chunk size at a head-length boundary decodes to itself or is refused as before; non-shortest heads are refused', () => {
    const sha256 = new Uint8Array(32).map((_, i) => i);
    for (const index of [0, 23, 24, 255, 256, 65535, 65536, 0xffffff, 0x1000000]) {
      for (const chunkSize of [255, 256, 4096, 65535, 65536, 65537]) {
        const bytes = encodeCbor(new Map<number, unknown>([[1, sha256], [2, index], [3, chunkSize]]));
        const ok = index <= 0xffffff && chunkSize >= 256 && chunkSize <= 65536;
        if (ok) expect(decodeChunkRequest(bytes)).toEqual({ sha256, index, chunkSize });
        else expect(code(() => decodeChunkRequest(bytes))).toBe('CBOR_FIELD_INVALID');
      }
    }
    const digest = Buffer.from(sha256).toString('hex');
    // index 5 as 0x18 0x05 (one byte too long); size 4096 as 0x1a 00 00 10 00
    expect(code(() => decodeChunkRequest(hex(`a301 5820${digest} 02 1805 03 191000`.replace(/ /g, ''))))).toBe('CBOR_NON_CANONICAL');
    expect(code(() => decodeChunkRequest(hex(`a301 5820${digest} 02 05 03 1a00001000`.replace(/ /g, ''))))).toBe('CBOR_NON_CANONICAL');
    // a trailing byte, a short digest, keys out of order
    expect(code(() => decodeChunkRequest(hex(`a301 5820${digest} 02 05 03 19100000`.replace(/ /g, ''))))).toBe('CBOR_MALFORMED');
    expect(code(() => decodeChunkRequest(hex(`a301 581f${digest.slice(2)} 02 05 03 191000`.replace(/ /g, ''))))).toBe('CBOR_FIELD_INVALID');
    expect(code(() => decodeChunkRequest(hex(`a302 05 01 5820${digest} 03 191000`.replace(/ /g, ''))))).toBe('CBOR_NON_CANONICAL');
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
