// Reads what a fleet manager needs from a core Wasm module: imports and exports with their
// types, and memory limits. Node's WebAssembly.Module.imports() gives names but not types or
// limits, and the ABI check needs both. Only the type, import, function, memory and export
// sections are read; WebAssembly.validate() checks the rest.
import { ABI_MODULE, ABI_V1_EXPORTS, ABI_V1_IMPORTS, REQUIRED_EXPORTS, sameFuncType, type FuncType, type ValType } from './abi.js';
import { sha256 } from './crypto.js';
import { WfError } from './errors.js';

export interface WasmImport {
  module: string;
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface WasmExport {
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface WasmInfo {
  size: number;
  imports: WasmImport[];
  exports: WasmExport[];
  memory?: { initialPages: number; maxPages?: number; imported: boolean };
}

const KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;
const VALTYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' };

class Reader {
  pos = 0;
  constructor(
    private readonly b: Uint8Array,
    readonly end = b.length,
  ) {}
  fail(what: string): never {
    throw new WfError('MODULE_INVALID', `${what} at byte ${this.pos}`);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.b[this.pos++];
  }
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (result > 0xffffffff) this.fail('LEB128 out of range');
        return result;
      }
    }
    return this.fail('LEB128 too long');
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) this.fail('name past the end');
    const s = Buffer.from(this.b.subarray(this.pos, this.pos + len)).toString('utf8');
    this.pos += len;
    return s;
  }
  limits(): { min: number; max?: number } {
    const flag = this.byte();
    const min = this.u32();
    return flag & 1 ? { min, max: this.u32() } : { min };
  }
  skipTableType(): void {
    this.byte();
    this.limits();
  }
  skipGlobalType(): void {
    this.byte();
    this.byte();
  }
}

function readFuncType(r: Reader): FuncType {
  if (r.byte() !== 0x60) r.fail('expected a function type');
  const vec = (): ValType[] => {
    const n = r.u32();
    const out: ValType[] = [];
    for (let i = 0; i < n; i++) {
      const t = VALTYPES[r.byte()];
      // Reference and vector types never appear in ABI v1 signatures; record them as a mismatch.
      out.push(t ?? ('ref' as ValType));
    }
    return out;
  };
  const params = vec();
  return { params, results: vec() };
}

/** Parse a Wasm binary; throws MODULE_INVALID with a byte offset for anything malformed. */
export function inspectWasm(bytes: Uint8Array): WasmInfo {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WfError('MODULE_INVALID', 'missing the \\0asm magic: not a WebAssembly module');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new WfError('MODULE_INVALID', 'not a core module of version 1 (a component?)');
  }
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new WfError('MODULE_INVALID', 'the module does not validate');

  const types: FuncType[] = [];
  const imports: WasmImport[] = [];
  const funcTypes: (FuncType | undefined)[] = []; // function index space
  const exports: WasmExport[] = [];
  let memory: WasmInfo['memory'];
  const r = new Reader(bytes);
  r.pos = 8;
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    if (end > bytes.length) r.fail('section past the end');
    const s = new Reader(bytes, end);
    s.pos = start;
    if (id === 1) {
      for (let n = s.u32(); n > 0; n--) types.push(readFuncType(s));
    } else if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        const module = s.name();
        const name = s.name();
        const kind = KINDS[s.byte()] ?? s.fail('unknown import kind');
        const imp: WasmImport = { module, name, kind };
        if (kind === 'func') {
          imp.type = types[s.u32()];
          funcTypes.push(imp.type);
        } else if (kind === 'memory') {
          const lim = s.limits();
          memory = { initialPages: lim.min, maxPages: lim.max, imported: true };
        } else if (kind === 'table') s.skipTableType();
        else if (kind === 'global') s.skipGlobalType();
        else s.u32();
        imports.push(imp);
      }
    } else if (id === 3) {
      for (let n = s.u32(); n > 0; n--) funcTypes.push(types[s.u32()]);
    } else if (id === 5) {
      const n = s.u32();
      if (n > 0) {
        const lim = s.limits();
        memory = { initialPages: lim.min, maxPages: lim.max, imported: false };
      }
    } else if (id === 7) {
      for (let n = s.u32(); n > 0; n--) {
        const name = s.name();
        const kind = KINDS[s.byte()] ?? s.fail('unknown export kind');
        const index = s.u32();
        exports.push(kind === 'func' ? { name, kind, type: funcTypes[index] } : { name, kind });
      }
    }
    r.pos = end;
  }
  return { size: bytes.length, imports, exports, memory };
}

export interface AbiCheck {
  capabilities: string[];
  entryExports: string[];
  maxPages: number;
}

/**
 * Check a module against host ABI v1 and derive its capabilities. Throws the first violation:
 * ABI_UNKNOWN_IMPORT, ABI_BAD_SIGNATURE or ABI_MISSING_EXPORT, naming the import or export.
 */
export function checkAbi(info: WasmInfo): AbiCheck {
  const capabilities = new Set<string>();
  for (const imp of info.imports) {
    const spec = imp.module === ABI_MODULE && imp.kind === 'func' ? ABI_V1_IMPORTS[imp.name] : undefined;
    if (!spec) throw new WfError('ABI_UNKNOWN_IMPORT', `"${imp.module}"."${imp.name}" (${imp.kind})`);
    if (!imp.type || !sameFuncType(imp.type, spec.type)) {
      throw new WfError('ABI_BAD_SIGNATURE', `import "${imp.name}" must be (${spec.type.params.join(', ')}) -> (${spec.type.results.join(', ')})`);
    }
    capabilities.add(spec.capability);
  }
  const entryExports: string[] = [];
  for (const [name, type] of Object.entries(ABI_V1_EXPORTS)) {
    const exp = info.exports.find((e) => e.name === name);
    if (!exp) {
      if ((REQUIRED_EXPORTS as readonly string[]).includes(name)) throw new WfError('ABI_MISSING_EXPORT', name);
      continue;
    }
    if (exp.kind !== 'func' || !exp.type || !sameFuncType(exp.type, type)) {
      throw new WfError('ABI_BAD_SIGNATURE', `export "${name}" must be () -> (i32)`);
    }
    entryExports.push(name);
  }
  const pointerImports = info.imports.some((i) => ABI_V1_IMPORTS[i.name]?.pointers);
  if (pointerImports && !info.exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw new WfError('ABI_MISSING_EXPORT', 'memory (needed by pointer-taking imports)');
  }
  const maxPages = info.memory ? (info.memory.maxPages ?? info.memory.initialPages) : 0;
  return { capabilities: [...capabilities].sort(), entryExports: entryExports.sort(), maxPages };
}

/** What a release manifest must say about a module: derived from the bytes, never declared. */
export interface ModuleFacts extends AbiCheck {
  sha256: Uint8Array;
  size: number;
}

/**
 * Inspect and ABI-check a module once and derive its manifest facts. The CLI builds release
 * manifests from these, and the server checks uploaded manifests against them.
 */
export function describeModule(wasm: Uint8Array): ModuleFacts {
  const abi = checkAbi(inspectWasm(wasm));
  return { ...abi, sha256: sha256(wasm), size: wasm.length };
}
