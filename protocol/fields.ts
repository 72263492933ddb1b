// Typed readers for CBOR maps with integer keys. Every failure names the field
// ("directive.sequence"), so a device report or an HTTP 400 says exactly which part was wrong.
import type { CborMap, CborValue } from './cbor.js';
import { WfError } from './errors.js';

export interface UintLimits {
  min?: number;
  max?: number;
}

export interface TextLimits {
  min?: number;
  max: number;
  pattern?: RegExp;
}

export class MapReader {
  private readonly seen = new Set<number | string>();

  constructor(
    private readonly map: CborMap,
    readonly what: string,
  ) {}

  static of(value: CborValue | undefined, what: string): MapReader {
    if (!(value instanceof Map)) throw new WfError('CBOR_FIELD_INVALID', `${what}: expected a map`);
    return new MapReader(value, what);
  }

  private name(key: number, field: string): string {
    return `${this.what}.${field} (key ${key})`;
  }

  private take(key: number, field: string, optional: boolean): CborValue | undefined {
    this.seen.add(key);
    const value = this.map.get(key);
    if (value === undefined && !optional) throw new WfError('CBOR_FIELD_MISSING', this.name(key, field));
    return value;
  }

  has(key: number): boolean {
    return this.map.has(key);
  }

  uint(key: number, field: string, limits: UintLimits = {}): number {
    return checkUint(this.take(key, field, false), this.name(key, field), limits);
  }

  optUint(key: number, field: string, limits: UintLimits = {}): number | undefined {
    const v = this.take(key, field, true);
    return v === undefined ? undefined : checkUint(v, this.name(key, field), limits);
  }

  text(key: number, field: string, limits: TextLimits): string {
    return checkText(this.take(key, field, false), this.name(key, field), limits);
  }

  optText(key: number, field: string, limits: TextLimits): string | undefined {
    const v = this.take(key, field, true);
    return v === undefined ? undefined : checkText(v, this.name(key, field), limits);
  }

  bytes(key: number, field: string, length?: { exact?: number; max?: number }): Uint8Array {
    return checkBytes(this.take(key, field, false), this.name(key, field), length);
  }

  optBytes(key: number, field: string, length?: { exact?: number; max?: number }): Uint8Array | undefined {
    const v = this.take(key, field, true);
    return v === undefined ? undefined : checkBytes(v, this.name(key, field), length);
  }

  bool(key: number, field: string): boolean {
    const v = this.take(key, field, false);
    if (typeof v !== 'boolean') throw new WfError('CBOR_FIELD_INVALID', `${this.name(key, field)}: expected a boolean`);
    return v;
  }

  array(key: number, field: string, count: { min?: number; max: number }): CborValue[] {
    return checkArray(this.take(key, field, false), this.name(key, field), count);
  }

  optArray(key: number, field: string, count: { min?: number; max: number }): CborValue[] | undefined {
    const v = this.take(key, field, true);
    return v === undefined ? undefined : checkArray(v, this.name(key, field), count);
  }

  map_(key: number, field: string): MapReader {
    const v = this.take(key, field, false);
    return MapReader.of(v, this.name(key, field));
  }

  optMap(key: number, field: string): MapReader | undefined {
    const v = this.take(key, field, true);
    return v === undefined ? undefined : MapReader.of(v, this.name(key, field));
  }

  raw(key: number, field: string, optional = false): CborValue | undefined {
    return this.take(key, field, optional);
  }

  /** The type/version header every signed payload starts with (protocol.md §2). */
  header(type: number): void {
    const t = this.uint(0, 'type');
    if (t !== type) throw new WfError('COSE_WRONG_TYPE', `${this.what}: payload type ${t}, expected ${type}`);
    const format = this.uint(1, 'format');
    if (format !== 1) throw new WfError('CBOR_FIELD_INVALID', `${this.what}.format: version ${format} is not supported`);
  }

  /** Reject keys this reader did not ask for: unknown input is refused, not ignored. */
  done(): void {
    for (const key of this.map.keys()) {
      if (!this.seen.has(key)) throw new WfError('CBOR_UNKNOWN_FIELD', `${this.what}: key ${String(key)}`);
    }
  }
}

export function checkUint(v: CborValue | undefined, name: string, limits: UintLimits = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new WfError('CBOR_FIELD_INVALID', `${name}: expected an unsigned integer`);
  }
  if (limits.min !== undefined && v < limits.min) throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v} < ${limits.min}`);
  if (limits.max !== undefined && v > limits.max) throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v} > ${limits.max}`);
  return v;
}

export function checkText(v: CborValue | undefined, name: string, limits: TextLimits): string {
  if (typeof v !== 'string') throw new WfError('CBOR_FIELD_INVALID', `${name}: expected text`);
  const len = Buffer.byteLength(v, 'utf8');
  if (len > limits.max) throw new WfError('CBOR_FIELD_INVALID', `${name}: ${len} bytes, limit ${limits.max}`);
  if (limits.min !== undefined && len < limits.min) throw new WfError('CBOR_FIELD_INVALID', `${name}: too short`);
  if (limits.pattern && !limits.pattern.test(v)) throw new WfError('CBOR_FIELD_INVALID', `${name}: "${v}" has the wrong form`);
  return v;
}

export function checkBytes(v: CborValue | undefined, name: string, length?: { exact?: number; max?: number }): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new WfError('CBOR_FIELD_INVALID', `${name}: expected a byte string`);
  if (length?.exact !== undefined && v.length !== length.exact) {
    throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v.length} bytes, expected ${length.exact}`);
  }
  if (length?.max !== undefined && v.length > length.max) {
    throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v.length} bytes, limit ${length.max}`);
  }
  return new Uint8Array(v.buffer, v.byteOffset, v.length);
}

export function checkArray(v: CborValue | undefined, name: string, count: { min?: number; max: number }): CborValue[] {
  if (!Array.isArray(v)) throw new WfError('CBOR_FIELD_INVALID', `${name}: expected an array`);
  if (v.length > count.max) throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v.length} items, limit ${count.max}`);
  if (count.min !== undefined && v.length < count.min) throw new WfError('CBOR_FIELD_INVALID', `${name}: needs at least ${count.min} items`);
  return v;
}

/** A text → text map (config, tags), bounded in entries and sizes. */
export function checkTextMap(v: CborValue | undefined, name: string, maxEntries = 32): Record<string, string> {
  if (!(v instanceof Map)) throw new WfError('CBOR_FIELD_INVALID', `${name}: expected a map`);
  if (v.size > maxEntries) throw new WfError('CBOR_FIELD_INVALID', `${name}: ${v.size} entries, limit ${maxEntries}`);
  const out: Record<string, string> = {};
  for (const [k, val] of v) {
    const key = checkText(k as CborValue, `${name} key`, { min: 1, max: 64 });
    out[key] = checkText(val, `${name}.${key}`, { max: 256 });
  }
  return out;
}

export function textMapToCbor(obj: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(obj));
}

/** Text patterns shared by every side. */
/**
 * Device ids the server keeps for itself (docs/security.md): its own MQTT user on the embedded broker
 * is `wasmfleet-server` and its link client ids are `wasmfleet-server-<random>`. A device with such an
 * id could log in as, or take over the session of, the server. The one list of reserved ids.
 */
export const RESERVED_DEVICE_ID = /^wasmfleet/i;

export function isReservedDeviceId(id: string): boolean {
  return RESERVED_DEVICE_ID.test(id);
}

export const PATTERNS = {
  deviceId: /^[A-Za-z0-9_-]{1,64}$/,
  component: /^[A-Za-z0-9._-]{1,64}$/,
  semver: /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(-[0-9A-Za-z.-]{1,20})?$/,
} as const;
