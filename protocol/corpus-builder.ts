// Builds protocol/corpus/: inputs for the differential test (TS and C give one verdict on each)
// and seeds for the fuzzers. Deterministic: a fixed PRNG over the test vectors plus named,
// hand-made cases for every rule of the strict CBOR profile (docs/protocol.md §1). A test checks
// the committed files against a fresh build (npm run corpus after a protocol change).
import { encodeCbor, type CborValue } from './cbor.js';
import { signSign1 } from './cose.js';
import { sha256 } from './crypto.js';
import { decodeBundle, encodeBundle } from './messages.js';
import { PAYLOAD_TYPE } from './signed.js';
import { buildVectors, seeded, sharedValueBomb, VECTOR_NOW } from './vector-builder.js';
import type { VerdictKind } from './verdict.js';

export interface Corpus {
  /** `<kind>/<name>.cbor` → bytes */
  files: Map<string, Uint8Array>;
}

const hex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** mulberry32: small, fast, and the same sequence on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Byte sequences the profile has a rule about: breaks, indefinite heads, tags, simple values, floats. */
const INTERESTING = [
  'ff', 'f7', 'f6', 'f4', 'f0', 'f820', 'f810', '1c', '1f', '5f', '7f', '9f', 'bf', 'df',
  'c1', 'c2', 'c3', 'd2', 'd81b', 'd81c', 'd81d00', 'd9010280', 'f93c00', 'fa3f800000', 'fb3ff8000000000000',
  '1800', '1b0000000000000001', '00', '80', 'a0', '40', '60', '62c328',
].map(hex);

/** One random structural edit of `input`. */
export function mutate(input: Uint8Array, rnd: () => number): Uint8Array {
  const at = Math.floor(rnd() * Math.max(1, input.length));
  const pick = () => INTERESTING[Math.floor(rnd() * INTERESTING.length)];
  const out = new Uint8Array(input);
  switch (Math.floor(rnd() * 7)) {
    case 0: // flip one bit
      if (out.length > 0) out[at] ^= 1 << Math.floor(rnd() * 8);
      return out;
    case 1: // overwrite with an interesting byte
      if (out.length > 0) out[at] = pick()[0];
      return out;
    case 2: // insert an interesting sequence
      return concat(input.subarray(0, at), pick(), input.subarray(at));
    case 3: // replace one byte with an interesting sequence
      return concat(input.subarray(0, at), pick(), input.subarray(at + 1));
    case 4: // delete a short range
      return concat(input.subarray(0, at), input.subarray(at + 1 + Math.floor(rnd() * 4)));
    case 5: // truncate
      return input.subarray(0, at);
    default: {
      // duplicate a short range
      const len = 1 + Math.floor(rnd() * 8);
      return concat(input.subarray(0, at + len), input.subarray(at, at + len), input.subarray(at + len));
    }
  }
}

/** Hand-made CBOR cases, one per rule of the profile (names say which). */
const CBOR_CASES: Record<string, string> = {
  'ok-false-true-null': '83f4f5f6',
  'ok-map': 'a201020304',
  'ok-nested-12': '818181818181818181818181' + '00',
  'lone-break': 'ff',
  'break-in-definite-array': '8101ff',
  'break-as-map-value': 'bf01ff',
  'break-in-tag': 'c1ff',
  'indefinite-array': '9f0102ff',
  'indefinite-map': 'bf0102ff',
  'indefinite-bstr': '5f4101ff',
  'indefinite-tstr': '7f6161ff',
  'indefinite-bstr-bad-chunk': '5f6161ff',
  'indefinite-uint': '1f',
  'indefinite-tag': 'df00',
  'indefinite-array-then-trailing': '9f01ff00',
  'indefinite-array-unterminated': '9f0101',
  'reserved-info-28': '1c',
  'reserved-info-29-in-map': 'a1011d',
  'reserved-info-30': 'fe',
  'undefined': 'f7',
  'undefined-in-map': 'a101f7',
  'undefined-in-array': '8301f702',
  'simple-0': 'e0',
  'simple-19': 'f3',
  'simple-24-two-byte-low': 'f810',
  'simple-32': 'f820',
  'simple-255': 'f8ff',
  'float16': 'f93c00',
  'float32': 'fa3f800000',
  'float64': 'fb3ff8000000000000',
  'float64-integral': 'fb3ff0000000000000',
  'float64-nan': 'fb7ff8000000000000',
  'tag-0-date-string': 'c074323031332d30332d32315432303a30343a30305a',
  'tag-1-epoch': 'c11a5f5e1000',
  'tag-2-bignum': 'c249010000000000000000',
  'tag-3-negative-bignum': 'c34101',
  'tag-18-inside': 'd28440a04040',
  'tag-18-long-head': 'd8128440a0404000',
  'tag-24-embedded': 'd8184101',
  'tag-27-object': 'd81b8261786101',
  'tag-28-shareable': 'd81c80',
  'tag-29-shared-ref': 'd81d00',
  'tag-28-29-pair': '82d81c8101d81d00',
  'tag-35-regexp': 'd8236161',
  'tag-64-typed-array': 'd8404101',
  'tag-258-set': 'd9010280',
  'tag-259-map': 'd90103a0',
  'tag-55799-self-describe': 'd9d9f700',
  'tag-after-long-head': '8218018201c100',
  'undefined-then-malformed': '82f71c',
  'non-shortest-uint': '1800',
  'non-shortest-length': '5800',
  'non-shortest-map-head': 'b80101 02',
  'unsorted-keys': 'a2020101 01',
  'duplicate-keys': 'a201010102',
  'negative-before-positive-key': 'a2200001 00',
  'invalid-utf8': '62c328',
  'utf8-surrogate': '63eda080',
  'utf8-overlong': '62c080',
  'truncated-map': 'a1',
  'truncated-bstr': '43 0102',
  'truncated-head': '19 01',
  'huge-length': '5b7fffffffffffffff',
  'huge-array': '9bffffffffffffffff',
  'trailing-byte': '0101',
  'nested-13': '81818181818181818181818181' + '00',
  'non-canonical-then-malformed': 'a2020001',
  'non-canonical-then-unsupported': 'a20200 01f7',
  'empty': '',
};

function cborCases(): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = Object.entries(CBOR_CASES).map(([n, h]) => [`hand-${n}`, hex(h)]);
  // The shared-value bomb of issue 9: 2^26 values in 245 bytes.
  out.push(['hand-shared-value-bomb', sharedValueBomb(26)]);
  const items = (n: number) => new Uint8Array([0x99, (n - 1) >> 8, (n - 1) & 0xff, ...new Uint8Array(n - 1)]);
  out.push(['hand-4096-items', items(4096)], ['hand-4097-items', items(4097)]);
  return out;
}

/** Payloads re-signed after a fault, so the fault reaches the payload decoder on both hosts. */
function signedPayloadCases(): { keydoc: Array<[string, Uint8Array]>; bundle: Array<[string, Uint8Array]> } {
  const root = seeded('root');
  const director = seeded('director');
  const v = buildVectors();
  const valid = decodeBundle(v.files.get('bundle-valid.cbor')!);
  const m110 = valid.manifests[0];
  const withDirective = (d: Uint8Array) => encodeBundle({ keyDocument: valid.keyDocument, directive: d, manifests: [m110] });
  const directiveMap = (component: Map<number, unknown>) =>
    encodeCbor(
      new Map<number, unknown>([
        [0, PAYLOAD_TYPE.directive], [1, 1], [2, v.index.context.device], [3, 5], [4, VECTOR_NOW - 60], [5, VECTOR_NOW + 86400], [6, 'r'], [7, [component]],
      ]),
    );
  const component = (extra: Array<[number, unknown]>) => new Map<number, unknown>([[1, 'blink'], [2, sha256(m110)], ...extra]);
  const bundle: Array<[string, Uint8Array]> = [
    // finding 6: undefined in an optional field, correctly signed
    ['hand-signed-undefined-rollback', withDirective(signSign1(directiveMap(component([[4, undefined]])), director))],
    ['hand-signed-undefined-config', withDirective(signSign1(directiveMap(component([[3, undefined]])), director))],
    ['hand-signed-null-rollback', withDirective(signSign1(directiveMap(component([[4, null]])), director))],
    ['hand-signed-valid-control', withDirective(signSign1(directiveMap(component([])), director))],
  ];
  // a directive payload with a raw fault spliced in where the sequence goes
  const seqAt = (raw: string) => {
    const p = directiveMap(component([]));
    const marker = hex('0305'); // key 3, value 5
    const i = Buffer.from(p).indexOf(Buffer.from(marker));
    return concat(p.subarray(0, i + 1), hex(raw), p.subarray(i + 2));
  };
  for (const [name, raw] of Object.entries({
    'tag-1-sequence': 'c105', 'float-sequence': 'fb4014000000000000', 'float16-sequence': 'f94500', 'undefined-sequence': 'f7',
    'bignum-sequence': 'c24105', 'shared-sequence': 'd81c05', 'simple-sequence': 'f0', 'indefinite-sequence': '9f05ff', 'lone-break-sequence': 'ff',
  })) {
    bundle.push([`hand-signed-${name}`, withDirective(signSign1(seqAt(raw), director))]);
  }
  // key documents: the vector key document's payload with a fault, re-signed by the root
  const kdPayload = encodeCbor(
    new Map<number, CborValue>([[0, PAYLOAD_TYPE.keyDocument], [1, 1], [2, 1], [3, VECTOR_NOW - 86400], [4, VECTOR_NOW + 365 * 86400], [5, []]]),
  );
  const envelopeEdges: Array<[string, Uint8Array]> = [
    ['hand-empty', new Uint8Array(0)],
    ['hand-lone-tag-18', hex('d2')],
    ['hand-tag-18-lone-break', hex('d2ff')],
    ['hand-tag-18-undefined', hex('d2f7')],
    ['hand-tag-18-twice', concat(hex('d2'), valid.keyDocument)],
    ['hand-tag-18-long-head', concat(hex('d812'), valid.keyDocument.subarray(1))],
    ['hand-untagged-bomb', hex('d81c80')],
  ];
  bundle.push(...envelopeEdges);
  const keydoc: Array<[string, Uint8Array]> = [
    ...envelopeEdges,
    ['hand-vector-keydoc', valid.keyDocument],
    ['hand-signed-empty-keys', signSign1(kdPayload, root)],
    ['hand-signed-keys-undefined', signSign1(concat(kdPayload.subarray(0, kdPayload.length - 1), hex('f7')), root)],
    ['hand-signed-keys-tag-258', signSign1(concat(kdPayload.subarray(0, kdPayload.length - 1), hex('d9010280')), root)],
    ['hand-signed-keys-indefinite', signSign1(concat(kdPayload.subarray(0, kdPayload.length - 1), hex('9fff')), root)],
  ];
  return { keydoc, bundle };
}

/** n mutants of the seeds, each one to three edits deep, named `mut-<nnnn>`. */
function mutants(seeds: Uint8Array[], n: number, seed: number): Array<[string, Uint8Array]> {
  const rnd = prng(seed);
  const out: Array<[string, Uint8Array]> = [];
  for (let i = 0; i < n; i++) {
    let bytes = seeds[Math.floor(rnd() * seeds.length)];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) bytes = mutate(bytes, rnd);
    out.push([`mut-${String(i).padStart(4, '0')}`, bytes]);
  }
  return out;
}

/** Payload mutants re-signed with the right key: they get past the signature to the decoder. */
function resignedMutants(n: number, seed: number): { keydoc: Array<[string, Uint8Array]>; bundle: Array<[string, Uint8Array]> } {
  const v = buildVectors();
  const valid = decodeBundle(v.files.get('bundle-valid.cbor')!);
  const rnd = prng(seed);
  const root = seeded('root');
  const director = seeded('director');
  const kdPayload = extractPayload(valid.keyDocument);
  const dirPayload = extractPayload(valid.directive);
  const keydoc: Array<[string, Uint8Array]> = [];
  const bundle: Array<[string, Uint8Array]> = [];
  for (let i = 0; i < n; i++) {
    keydoc.push([`resigned-${String(i).padStart(4, '0')}`, signSign1(mutate(kdPayload, rnd), root)]);
    const d = signSign1(mutate(dirPayload, rnd), director);
    bundle.push([`resigned-${String(i).padStart(4, '0')}`, encodeBundle({ keyDocument: valid.keyDocument, directive: d, manifests: valid.manifests })]);
  }
  return { keydoc, bundle };
}

/** The payload byte string of a COSE_Sign1 we built (d2 84 protected a0 payload signature). */
function extractPayload(cose: Uint8Array): Uint8Array {
  let pos = 2; // d2 84
  const readLen = (): number => {
    const info = cose[pos] & 0x1f;
    pos++;
    if (info < 24) return info;
    const n = 1 << (info - 24);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + cose[pos++];
    return v;
  };
  pos += readLen(); // protected
  pos++; // a0
  const len = readLen();
  return cose.subarray(pos, pos + len);
}

export function buildCorpus(): Corpus {
  const v = buildVectors();
  // Mutation seeds are the valid vectors only, so adding an invalid vector does not reshuffle the
  // mutants; every vector (valid or not) is also a corpus input of its own.
  const byKind = (kind: string) => v.index.vectors.filter((x) => x.kind === kind && x.valid).map((x) => v.files.get(x.file)!);
  const vectorsOf = (kind: string): Array<[string, Uint8Array]> =>
    v.index.vectors.filter((x) => x.kind === kind && !x.context).map((x) => [`vector-${x.name}`, v.files.get(x.file)!]);
  const validBundle = v.files.get('bundle-valid.cbor')!;
  const kd = decodeBundle(validBundle).keyDocument;
  const signed = signedPayloadCases();
  const resigned = resignedMutants(60, 6);
  const cbor = cborCases();
  const kinds: Record<VerdictKind, Array<[string, Uint8Array]>> = {
    cbor: [...cbor, ...mutants([...cbor.map(([, b]) => b).filter((b) => b.length < 300), ...byKind('hello'), ...byKind('report'), ...byKind('chunk_response')], 400, 1)],
    keydoc: [...signed.keydoc, ...resigned.keydoc, ...mutants([kd], 300, 2)],
    bundle: [...vectorsOf('bundle'), ...signed.bundle, ...resigned.bundle, ...mutants(byKind('bundle'), 200, 3)],
    freshness: [...vectorsOf('freshness'), ...mutants(byKind('freshness'), 120, 9)],
    hello: [...vectorsOf('hello'), ...mutants(byKind('hello'), 120, 4)],
    report: [...vectorsOf('report'), ...mutants(byKind('report'), 120, 5)],
    chunk_request: [...vectorsOf('chunk_request'), ...mutants(byKind('chunk_request'), 60, 7)],
    chunk_response: [...vectorsOf('chunk_response'), ...mutants(byKind('chunk_response'), 60, 8)],
  };
  const files = new Map<string, Uint8Array>();
  for (const [kind, list] of Object.entries(kinds)) for (const [name, bytes] of list) files.set(`${kind}/${name}.cbor`, bytes);
  return { files };
}
