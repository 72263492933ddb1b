// Deterministic CBOR (RFC 8949 §4.2.1) on top of cbor-x.
// cbor-x's defaults are not valid COSE: they add tag 259 for Maps, tag 64 for Uint8Array, records
// extensions and fixed 16-bit map headers. This configuration turns all of that off.
// Decoding first walks the raw bytes through the strict profile (cbor-profile.ts, the same walk
// as the C host's): cbor-x only ever sees bytes without tags, undefined or indefinite lengths, so
// it cannot build a Date, a BigInt, a RegExp, a Set or an expanded shared value (tags 28/29).
import { Decoder, Encoder, Tag } from 'cbor-x';
import { assertProfile } from './cbor-profile.js';
import { WfError } from './errors.js';

export { Tag };

export type CborValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | Map<number | string, CborValue>
  | Tag;

export type CborMap = Map<number | string, CborValue>;

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  variableMapSize: true,
  // Never let cbor-x shrink a float64 behind our back; telemetry values are float64 on every host.
  useFloat32: 0,
} as ConstructorParameters<typeof Encoder>[0]);

const decoder = new Decoder({
  useRecords: false,
  mapsAsObjects: false,
} as ConstructorParameters<typeof Decoder>[0]);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** True when every key is an integer 0..2^32-1: its deterministic head is major type 0 with the
 *  shortest length, so a shorter encoding is a smaller number and byte order is numeric order. */
function smallUintKeys(map: Map<unknown, unknown>): map is Map<number, unknown> {
  for (const k of map.keys()) if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > 0xffffffff || Object.is(k, -0)) return false;
  return true;
}

/** Rebuild Maps with keys sorted by their encoded bytes (RFC 8949 §4.2.1), recursively. */
function canonicalize(value: unknown): unknown {
  if (value instanceof Map) {
    // Every key a small unsigned integer (all protocol maps): their encodings order as the numbers do.
    if (smallUintKeys(value)) return new Map([...value.entries()].sort((x, y) => x[0] - y[0]).map(([k, v]) => [k, canonicalize(v)]));
    const entries = [...value.entries()].map(([k, v]) => ({ k, v: canonicalize(v), kb: encoder.encode(k) }));
    entries.sort((x, y) => compareBytes(x.kb, y.kb));
    return new Map(entries.map((e) => [e.k, e.v]));
  }
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value instanceof Tag) return new Tag(canonicalize(value.value), value.tag);
  // cbor-x writes integers beyond 32 bits as float64; as BigInt they get the 64-bit integer head.
  if (typeof value === 'number' && Number.isInteger(value) && (value > 0xffffffff || value < -0x100000000)) {
    return BigInt(value);
  }
  return value;
}

/** Encode a value in deterministic CBOR. Maps must have number or string keys. */
export function encodeCbor(value: unknown): Uint8Array {
  const out = encoder.encode(canonicalize(value));
  // cbor-x returns a Buffer that may share a pooled ArrayBuffer; copy so callers own the bytes.
  return new Uint8Array(out);
}

export interface DecodeOptions {
  /** Name used in error messages, e.g. "directive bundle". */
  what: string;
  /** Reject input larger than this many bytes before parsing anything. */
  maxBytes: number;
  /** float64 values belong to this message (telemetry values only); elsewhere a float is CBOR_UNSUPPORTED. */
  floats?: boolean;
}

/** Strictly decode one CBOR data item; every failure is a typed WfError naming `what`. */
export function decodeCbor(bytes: Uint8Array, opts: DecodeOptions): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new WfError('CBOR_MALFORMED', `${opts.what}: not a byte string`);
  if (bytes.length > opts.maxBytes) {
    throw new WfError('CBOR_TOO_LARGE', `${opts.what}: ${bytes.length} bytes, limit ${opts.maxBytes}`);
  }
  if (bytes.length === 0) throw new WfError('CBOR_MALFORMED', `${opts.what}: empty`);
  assertProfile(bytes, opts.what, { floats: opts.floats });
  try {
    return decoder.decode(bytes) as CborValue;
  } catch (err) {
    // Unreachable for bytes the profile accepted; kept typed all the same.
    throw new WfError('CBOR_MALFORMED', `${opts.what}: ${(err as Error).message}`);
  }
}
