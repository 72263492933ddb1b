// The strict CBOR profile of docs/protocol.md §1, checked over the raw bytes in one pass before
// any decoder builds a value. It is the same walk as the C host's wf_cbor_check
// (firmware-host/src/core/cbor.c): same checks, same order, same reason codes, so both hosts give
// one verdict on every input (test/cbor-differential.test.ts replays protocol/corpus through both).
//
// Hard faults end the walk at once, at the first offending byte:
//   CBOR_MALFORMED    not well-formed (RFC 8949 §3): truncated, reserved additional info 28–30,
//                     a break outside an indefinite item, indefinite integers or tags, a two-byte
//                     simple value below 32, trailing bytes, nesting deeper than CBOR_MAX_DEPTH;
//   CBOR_UNSUPPORTED  well-formed but outside the profile: any tag (COSE's tag 18 is the byte d2
//                     the envelope reader consumes before this walk), a simple value other than
//                     false/true/null (undefined included), a float where the message has none;
//   CBOR_TOO_LARGE    more than CBOR_MAX_ITEMS data items.
// Deterministic-encoding faults (longer heads than needed, indefinite lengths, unsorted or
// repeated map keys, float16/32, text that is not UTF-8) are remembered and reported as
// CBOR_NON_CANONICAL only when the walk finds no hard fault.
import { WfError, type ErrorCode } from './errors.js';

/** Deepest nesting accepted (WF_CBOR_MAX_DEPTH); our messages nest at most 5 levels. */
export const CBOR_MAX_DEPTH = 12;
/** Most data items one message may hold (WF_CBOR_MAX_ITEMS); bounds what a decoder builds. */
export const CBOR_MAX_ITEMS = 4096;

const MAJOR_UINT = 0;
const MAJOR_NINT = 1;
const MAJOR_BSTR = 2;
const MAJOR_TSTR = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const SIMPLE_FALSE = 20;
const SIMPLE_NULL = 22;
const INDEFINITE = 31;

export interface ProfileOptions {
  /** float64 values are part of this message (telemetry values only). */
  floats?: boolean;
}

/** The verdict: null when the bytes are in the profile, else the reason code and where. */
export interface ProfileFault {
  code: ErrorCode;
  offset: number;
  detail: string;
}

interface Head {
  major: number;
  info: number;
  /** value, length, count, tag number or simple value; a number is exact up to 2^53 and every
   *  larger length is refused as truncated anyway (no input is that long). */
  arg: number;
  content: number;
}

class Fault extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const malformed = (offset: number, detail: string) => new Fault('CBOR_MALFORMED', offset, detail);

function readHead(b: Uint8Array, off: number): Head {
  if (off >= b.length) throw malformed(off, 'truncated');
  const ib = b[off];
  const major = ib >> 5;
  const info = ib & 0x1f;
  let extra = 0;
  if (info >= 24 && info <= 27) extra = 1 << (info - 24);
  else if (info >= 28 && info <= 30) throw malformed(off, `reserved additional information ${info}`);
  if (extra > b.length - off - 1) throw malformed(off, 'truncated head');
  let arg = info;
  if (extra > 0) {
    arg = 0;
    for (let i = 0; i < extra; i++) arg = arg * 256 + b[off + 1 + i];
  }
  return { major, info, arg, content: off + 1 + extra };
}

function headIsShortest(h: Head): boolean {
  switch (h.info) {
    case 24:
      return h.arg >= 24;
    case 25:
      return h.arg > 0xff;
    case 26:
      return h.arg > 0xffff;
    case 27:
      return h.arg > 0xffffffff;
    default:
      return true;
  }
}

function utf8Valid(s: Uint8Array): boolean {
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) [more, cp] = [1, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [more, cp] = [2, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [more, cp] = [3, c & 0x07];
    else return false;
    if (more > s.length - i - 1) return false;
    for (let k = 1; k <= more; k++) {
      if ((s[i + k] & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((more === 2 && cp < 0x800) || (more === 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += more + 1;
  }
  return true;
}

function compareBytes(b: Uint8Array, a0: number, a1: number, c0: number, c1: number): number {
  const n = Math.min(a1 - a0, c1 - c0);
  for (let i = 0; i < n; i++) if (b[a0 + i] !== b[c0 + i]) return b[a0 + i] - b[c0 + i];
  return a1 - a0 - (c1 - c0);
}

class Walker {
  canonical = true;
  canonicalFault = '';
  canonicalOffset = 0;
  items = 0;

  constructor(
    readonly b: Uint8Array,
    readonly floats: boolean,
  ) {}

  private nonCanonical(offset: number, detail: string): void {
    if (this.canonical) {
      this.canonical = false;
      this.canonicalOffset = offset;
      this.canonicalFault = detail;
    }
  }

  /** Check the item at `off`: where it ends, and whether it was a break byte. */
  item(off: number, depth: number): { end: number; isBreak: boolean } {
    const b = this.b;
    if (depth > CBOR_MAX_DEPTH) throw malformed(off, `nested deeper than ${CBOR_MAX_DEPTH}`);
    const h = readHead(b, off);
    if (h.major === 7 && h.info === INDEFINITE) return { end: h.content, isBreak: true };
    if (++this.items > CBOR_MAX_ITEMS) throw new Fault('CBOR_TOO_LARGE', off, `more than ${CBOR_MAX_ITEMS} items`);
    if (h.major !== 7 && !headIsShortest(h)) this.nonCanonical(off, 'head longer than needed');
    let pos = h.content;
    switch (h.major) {
      case MAJOR_UINT:
      case MAJOR_NINT:
        if (h.info === INDEFINITE) throw malformed(off, 'indefinite integer');
        break;
      case MAJOR_BSTR:
      case MAJOR_TSTR:
        if (h.info === INDEFINITE) {
          this.nonCanonical(off, 'indefinite-length string');
          for (;;) {
            const ch = readHead(b, pos);
            if (b[pos] === 0xff) {
              pos++;
              break;
            }
            if (ch.major !== h.major || ch.info === INDEFINITE) throw malformed(pos, 'bad chunk in an indefinite string');
            if (ch.arg > b.length - ch.content) throw malformed(pos, 'truncated string');
            pos = ch.content + ch.arg;
          }
          break;
        }
        if (h.arg > b.length - pos) throw malformed(off, 'truncated string');
        if (h.major === MAJOR_TSTR && !utf8Valid(b.subarray(pos, pos + h.arg))) this.nonCanonical(off, 'text is not UTF-8');
        pos += h.arg;
        break;
      case MAJOR_ARRAY:
      case MAJOR_MAP:
        if (h.info === INDEFINITE) this.nonCanonical(off, 'indefinite-length array or map');
        else if (h.arg > b.length - pos) throw malformed(off, 'truncated array or map'); // each item ≥ 1 byte
        pos = this.children(h, pos, depth);
        break;
      case MAJOR_TAG:
        if (h.info === INDEFINITE) throw malformed(off, 'indefinite tag');
        throw new Fault('CBOR_UNSUPPORTED', off, `tag ${h.arg}`);
      default: // major 7
        if (h.info === 24) {
          if (h.arg < 32) throw malformed(off, `simple value ${h.arg} in two bytes`);
          throw new Fault('CBOR_UNSUPPORTED', off, `simple value ${h.arg}`);
        }
        if (h.info >= 25) {
          if (!this.floats) throw new Fault('CBOR_UNSUPPORTED', off, 'a float');
          if (h.info !== 27) this.nonCanonical(off, 'float16/32 (the profile has float64 only)');
        } else if (h.arg < SIMPLE_FALSE || h.arg > SIMPLE_NULL) {
          throw new Fault('CBOR_UNSUPPORTED', off, h.arg === 23 ? 'undefined' : `simple value ${h.arg}`);
        }
        break;
    }
    return { end: pos, isBreak: false };
  }

  private children(h: Head, start: number, depth: number): number {
    const indefinite = h.info === INDEFINITE;
    const isMap = h.major === MAJOR_MAP;
    const count = indefinite ? Infinity : isMap ? h.arg * 2 : h.arg;
    let pos = start;
    let prevKey = -1;
    let prevKeyEnd = -1;
    for (let n = 0; n < count; n++) {
      const itemStart = pos;
      const r = this.item(itemStart, depth + 1);
      if (r.isBreak) {
        if (!indefinite || (isMap && n % 2 !== 0)) throw malformed(itemStart, 'break where no item may end');
        return r.end;
      }
      if (isMap && n % 2 === 0) {
        if (prevKey >= 0 && compareBytes(this.b, prevKey, prevKeyEnd, itemStart, r.end) >= 0) {
          this.nonCanonical(itemStart, 'map keys unsorted or repeated');
        }
        prevKey = itemStart;
        prevKeyEnd = r.end;
      }
      pos = r.end;
    }
    return pos;
  }
}

/** Walk `bytes` as exactly one CBOR item of the profile. Never throws; bounded by bytes.length. */
export function checkProfile(bytes: Uint8Array, opts: ProfileOptions = {}): ProfileFault | null {
  if (bytes.length === 0) return { code: 'CBOR_MALFORMED', offset: 0, detail: 'empty' };
  const w = new Walker(bytes, opts.floats === true);
  try {
    const r = w.item(0, 0);
    if (r.isBreak) return { code: 'CBOR_MALFORMED', offset: 0, detail: 'a lone break byte' };
    if (r.end !== bytes.length) return { code: 'CBOR_MALFORMED', offset: r.end, detail: 'bytes after the item' };
  } catch (err) {
    if (err instanceof Fault) return { code: err.code, offset: err.offset, detail: err.detail };
    throw err;
  }
  return w.canonical ? null : { code: 'CBOR_NON_CANONICAL', offset: w.canonicalOffset, detail: w.canonicalFault };
}

/** checkProfile that throws the fault as a WfError naming `what` and the offset. */
export function assertProfile(bytes: Uint8Array, what: string, opts: ProfileOptions = {}): void {
  const fault = checkProfile(bytes, opts);
  if (fault) throw new WfError(fault.code, `${what}: ${fault.detail} at byte ${fault.offset}`);
}
