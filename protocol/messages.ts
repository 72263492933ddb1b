// The unsigned MQTT messages of protocol.md §5: encoders and strict decoders.
// Each decoder bounds the size first and names the field that failed.
import { decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { WfError } from './errors.js';
import { checkArray, checkBytes, MapReader, PATTERNS } from './fields.js';
import { isDeviceState, type DeviceState } from './states.js';
import { DIRECTIVE_MAX_BYTES, DIRECTIVE_MAX_COMPONENTS } from './payloads/directive.js';
import { KEYDOC_MAX_BYTES } from './payloads/key-document.js';
import { MANIFEST_MAX_BYTES } from './payloads/release-manifest.js';
import { FRESHNESS_STATEMENT_MAX_BYTES } from './payloads/freshness.js';
import { ROOT_CHAIN_MAX, ROOT_LINK_MAX_BYTES } from './payloads/root-chain.js';
import { isErrorCode, type ErrorCode } from './errors.js';

export const MESSAGE_LIMITS = {
  hello: 4096,
  bundle: 32 * 1024,
  chunkRequest: 128,
  chunkOverhead: 128,
  report: 4096,
  telemetry: 1024,
  online: 8,
  freshness: 8 * 1024,
} as const;

export const CHUNK_SIZE_MIN = 256;
export const CHUNK_SIZE_MAX = 65536;

// ---- running module summary, shared by hello and report ----
export interface RunningComponent {
  component: string;
  version: string;
  manifestDigest: Uint8Array;
}

function runningToCbor(r: RunningComponent[]): CborValue[] {
  return r.map((c) => new Map<number, CborValue>([[1, c.component], [2, c.version], [3, c.manifestDigest]]));
}

function readRunning(values: CborValue[], what: string): RunningComponent[] {
  return values.map((v, i) => {
    const f = MapReader.of(v, `${what}[${i}]`);
    const c = {
      component: f.text(1, 'component', { max: 64, pattern: PATTERNS.component }),
      version: f.text(2, 'version', { max: 32, pattern: PATTERNS.semver }),
      manifestDigest: f.bytes(3, 'manifest', { exact: 32 }),
    };
    f.done();
    return c;
  });
}

// ---- hello ----
export interface Hello {
  host: 'v8' | 'wasm3' | 'wamr';
  abi: number;
  capabilities: string[];
  maxChunk: number;
  memory: number;
  agent: string;
  running?: RunningComponent[];
}

export function encodeHello(h: Hello): Uint8Array {
  const m = new Map<number, CborValue>([
    [1, h.host],
    [2, h.abi],
    [3, [...h.capabilities].sort()],
    [4, h.maxChunk],
    [5, h.memory],
    [6, h.agent],
  ]);
  if (h.running) m.set(7, runningToCbor(h.running));
  return encodeCbor(m);
}

export function decodeHello(bytes: Uint8Array): Hello {
  const f = MapReader.of(decodeCbor(bytes, { what: 'hello', maxBytes: MESSAGE_LIMITS.hello }), 'hello');
  const host = f.text(1, 'host', { max: 8, pattern: /^(v8|wasm3|wamr)$/ }) as Hello['host'];
  const h: Hello = {
    host,
    abi: f.uint(2, 'abi', { min: 1, max: 255 }),
    capabilities: f.array(3, 'capabilities', { max: 32 }).map((c, i) => {
      if (typeof c !== 'string' || c.length === 0 || c.length > 32) throw new WfError('CBOR_FIELD_INVALID', `hello.capabilities[${i}]`);
      return c;
    }),
    maxChunk: f.uint(4, 'max_chunk', { min: CHUNK_SIZE_MIN, max: CHUNK_SIZE_MAX }),
    memory: f.uint(5, 'memory'),
    agent: f.text(6, 'agent', { max: 64 }),
  };
  const running = f.optArray(7, 'running', { max: DIRECTIVE_MAX_COMPONENTS });
  if (running) h.running = readRunning(running, 'hello.running');
  f.done();
  return h;
}

// ---- directive bundle ----
export interface DirectiveBundle {
  keyDocument: Uint8Array;
  directive: Uint8Array;
  manifests: Uint8Array[];
  /** Root chain links (protocol.md §3.5), present once the root has been rotated. */
  roots?: Uint8Array[];
}

export function encodeBundle(b: DirectiveBundle): Uint8Array {
  const m = new Map<number, CborValue>([[1, b.keyDocument], [2, b.directive], [3, b.manifests]]);
  if (b.roots && b.roots.length > 0) m.set(4, b.roots);
  return encodeCbor(m);
}

function readRoots(f: MapReader, key: number, what: string): Uint8Array[] | undefined {
  return f
    .optArray(key, 'roots', { min: 1, max: ROOT_CHAIN_MAX })
    ?.map((r, i) => checkBytes(r, `${what}.roots[${i}]`, { max: ROOT_LINK_MAX_BYTES }));
}

export function decodeBundle(bytes: Uint8Array): DirectiveBundle {
  const f = MapReader.of(decodeCbor(bytes, { what: 'directive bundle', maxBytes: MESSAGE_LIMITS.bundle }), 'directive bundle');
  const b: DirectiveBundle = {
    keyDocument: f.bytes(1, 'key_document', { max: KEYDOC_MAX_BYTES }),
    directive: f.bytes(2, 'directive', { max: DIRECTIVE_MAX_BYTES }),
    manifests: f
      .array(3, 'manifests', { min: 1, max: DIRECTIVE_MAX_COMPONENTS })
      .map((m, i) => checkBytes(m, `directive bundle.manifests[${i}]`, { max: MANIFEST_MAX_BYTES })),
  };
  const roots = readRoots(f, 4, 'directive bundle');
  if (roots) b.roots = roots;
  f.done();
  return b;
}

// ---- freshness message (wf/v1/fleet/freshness) ----
export interface FreshnessMessage {
  keyDocument: Uint8Array;
  statement: Uint8Array;
  roots?: Uint8Array[];
}

export function encodeFreshnessMessage(m: FreshnessMessage): Uint8Array {
  const map = new Map<number, CborValue>([[1, m.keyDocument], [2, m.statement]]);
  if (m.roots && m.roots.length > 0) map.set(3, m.roots);
  return encodeCbor(map);
}

export function decodeFreshnessMessage(bytes: Uint8Array): FreshnessMessage {
  const f = MapReader.of(decodeCbor(bytes, { what: 'freshness message', maxBytes: MESSAGE_LIMITS.freshness }), 'freshness message');
  const m: FreshnessMessage = {
    keyDocument: f.bytes(1, 'key_document', { max: KEYDOC_MAX_BYTES }),
    statement: f.bytes(2, 'statement', { max: FRESHNESS_STATEMENT_MAX_BYTES }),
  };
  const roots = readRoots(f, 3, 'freshness message');
  if (roots) m.roots = roots;
  f.done();
  return m;
}

// ---- chunks ----
export interface ChunkRequest {
  sha256: Uint8Array;
  index: number;
  chunkSize: number;
}

export function encodeChunkRequest(r: ChunkRequest): Uint8Array {
  return encodeCbor(new Map<number, CborValue>([[1, r.sha256], [2, r.index], [3, r.chunkSize]]));
}

/**
 * Read a CBOR unsigned integer head at `at` in its shortest form (deterministic encoding):
 * [value, next offset], or null for anything else (left to the full decoder to name).
 */
function shortestUint(b: Uint8Array, at: number): [number, number] | null {
  const head = b[at];
  if (head === undefined) return null;
  if (head <= 0x17) return [head, at + 1];
  if (head === 0x18 && at + 1 < b.length && b[at + 1] >= 24) return [b[at + 1], at + 2];
  if (head === 0x19 && at + 2 < b.length) {
    const v = (b[at + 1] << 8) | b[at + 2];
    return v > 0xff ? [v, at + 3] : null;
  }
  if (head === 0x1a && at + 4 < b.length) {
    const v = ((b[at + 1] << 24) >>> 0) + ((b[at + 2] << 16) | (b[at + 3] << 8) | b[at + 4]);
    return v > 0xffff ? [v, at + 5] : null;
  }
  return null;
}

/**
 * The chunk request as every device encodes it — {1: 32-byte digest, 2: index, 3: chunk size},
 * canonical, values in range — read without the general decoder (a thousand devices send 16
 * each per update). Anything else returns null and goes through the full decoder, which accepts
 * exactly these bytes with these values too, and names what is wrong with the rest.
 */
function chunkRequestFast(b: Uint8Array): ChunkRequest | null {
  if (b.length < 39 || b[0] !== 0xa3 || b[1] !== 0x01 || b[2] !== 0x58 || b[3] !== 0x20 || b[36] !== 0x02) return null;
  const index = shortestUint(b, 37);
  if (!index || index[0] > 0xffffff || b[index[1]] !== 0x03) return null;
  const size = shortestUint(b, index[1] + 1);
  if (!size || size[1] !== b.length || size[0] < CHUNK_SIZE_MIN || size[0] > CHUNK_SIZE_MAX) return null;
  return { sha256: b.slice(4, 36), index: index[0], chunkSize: size[0] };
}

export function decodeChunkRequest(bytes: Uint8Array): ChunkRequest {
  const fast = chunkRequestFast(bytes);
  if (fast) return fast;
  const f = MapReader.of(decodeCbor(bytes, { what: 'chunk request', maxBytes: MESSAGE_LIMITS.chunkRequest }), 'chunk request');
  const r = {
    sha256: f.bytes(1, 'sha256', { exact: 32 }),
    index: f.uint(2, 'index', { max: 0xffffff }),
    chunkSize: f.uint(3, 'chunk_size', { min: CHUNK_SIZE_MIN, max: CHUNK_SIZE_MAX }),
  };
  f.done();
  return r;
}

export interface ChunkResponse {
  sha256: Uint8Array;
  index: number;
  data?: Uint8Array;
  error?: ErrorCode;
}

export function encodeChunkResponse(r: ChunkResponse): Uint8Array {
  const m = new Map<number, CborValue>([[1, r.sha256], [2, r.index]]);
  if (r.data) m.set(3, r.data);
  if (r.error) m.set(4, r.error);
  return encodeCbor(m);
}

export function decodeChunkResponse(bytes: Uint8Array, maxChunk: number = CHUNK_SIZE_MAX): ChunkResponse {
  const f = MapReader.of(
    decodeCbor(bytes, { what: 'chunk response', maxBytes: maxChunk + MESSAGE_LIMITS.chunkOverhead }),
    'chunk response',
  );
  const r: ChunkResponse = { sha256: f.bytes(1, 'sha256', { exact: 32 }), index: f.uint(2, 'index', { max: 0xffffff }) };
  const data = f.optBytes(3, 'data', { max: maxChunk });
  const error = f.optText(4, 'error', { max: 64 });
  f.done();
  if ((data === undefined) === (error === undefined)) {
    throw new WfError('CBOR_FIELD_INVALID', 'chunk response: exactly one of data (3) and error (4) is required');
  }
  if (data) r.data = data;
  if (error !== undefined) r.error = isErrorCode(error) ? error : 'INTERNAL';
  return r;
}

// ---- report ----
export interface Report {
  state: DeviceState;
  reason?: string;
  sequence: number;
  running: RunningComponent[];
  targetSequence?: number;
  progress?: { bytes: number; total: number };
  detail?: string;
  time: number;
}

export function encodeReport(r: Report): Uint8Array {
  const m = new Map<number, CborValue>([[1, r.state]]);
  if (r.reason) m.set(2, r.reason);
  m.set(3, r.sequence);
  m.set(4, runningToCbor(r.running));
  if (r.targetSequence !== undefined) m.set(5, r.targetSequence);
  if (r.progress) m.set(6, new Map<number, CborValue>([[1, r.progress.bytes], [2, r.progress.total]]));
  if (r.detail) m.set(7, Buffer.byteLength(r.detail) > 256 ? Buffer.from(r.detail).subarray(0, 253).toString('utf8') + '...' : r.detail);
  m.set(8, r.time);
  return encodeCbor(m);
}

export function decodeReport(bytes: Uint8Array): Report {
  const f = MapReader.of(decodeCbor(bytes, { what: 'report', maxBytes: MESSAGE_LIMITS.report }), 'report');
  const state = f.text(1, 'state', { max: 16 });
  if (!isDeviceState(state)) throw new WfError('CBOR_FIELD_INVALID', `report.state: "${state}"`);
  const r: Report = {
    state,
    sequence: 0,
    running: [],
    time: 0,
  };
  const reason = f.optText(2, 'reason', { max: 64, pattern: /^[A-Z0-9_]+$/ });
  if (reason) r.reason = reason;
  r.sequence = f.uint(3, 'sequence');
  r.running = readRunning(checkArray(f.raw(4, 'running'), 'report.running', { max: DIRECTIVE_MAX_COMPONENTS }), 'report.running');
  const target = f.optUint(5, 'target_sequence');
  if (target !== undefined) r.targetSequence = target;
  const p = f.optMap(6, 'progress');
  if (p) {
    r.progress = { bytes: p.uint(1, 'bytes'), total: p.uint(2, 'total') };
    p.done();
  }
  const detail = f.optText(7, 'detail', { max: 256 });
  if (detail) r.detail = detail;
  r.time = f.uint(8, 'time');
  f.done();
  return r;
}

// ---- telemetry ----
export interface Telemetry {
  name: string;
  value: number;
  time: number;
}

export function encodeTelemetry(t: Telemetry): Uint8Array {
  return encodeCbor(new Map<number, CborValue>([[1, t.name], [2, t.value], [3, t.time]]));
}

export function decodeTelemetry(bytes: Uint8Array): Telemetry {
  // The one message with floats: the value is float64 (or an integer) on every host.
  const f = MapReader.of(decodeCbor(bytes, { what: 'telemetry', maxBytes: MESSAGE_LIMITS.telemetry, floats: true }), 'telemetry');
  const name = f.text(1, 'name', { min: 1, max: 64 });
  const value = f.raw(2, 'value');
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new WfError('CBOR_FIELD_INVALID', 'telemetry.value: expected a finite number');
  const t = { name, value, time: f.uint(3, 'time') };
  f.done();
  return t;
}

// ---- online ----
export function encodeOnline(online: boolean): Uint8Array {
  return encodeCbor(online);
}

export function decodeOnline(bytes: Uint8Array): boolean {
  const v = decodeCbor(bytes, { what: 'online', maxBytes: MESSAGE_LIMITS.online });
  if (typeof v !== 'boolean') throw new WfError('CBOR_FIELD_INVALID', 'online: expected true or false');
  return v;
}
