// wasmfleet module inspect <file>: what a module imports and exports, its memory, the capabilities
// it needs, and whether host ABI v1 accepts it. WAT input is compiled with jco.
import { loadModuleFile } from '../wat.js';
import { sha256, toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { checkAbi, inspectWasm, type WasmInfo } from '../../protocol/wasm-inspect.js';

export interface InspectResult {
  file: string;
  size: number;
  sha256: string;
  imports: Array<{ module: string; name: string; kind: string; type?: string }>;
  exports: Array<{ name: string; kind: string; type?: string }>;
  memory: WasmInfo['memory'] | null;
  capabilities: string[];
  abi: { ok: true; entryExports: string[]; maxPages: number } | { ok: false; code: string; message: string };
}

const sig = (t?: { params: string[]; results: string[] }) => (t ? `(${t.params.join(', ')}) -> (${t.results.join(', ')})` : undefined);

export async function inspectModule(file: string): Promise<InspectResult> {
  const wasm = await loadModuleFile(file);
  const info = inspectWasm(wasm);
  let abi: InspectResult['abi'];
  let capabilities: string[] = [];
  try {
    const a = checkAbi(info);
    capabilities = a.capabilities;
    abi = { ok: true, entryExports: a.entryExports, maxPages: a.maxPages };
  } catch (err) {
    if (!(err instanceof WfError)) throw err;
    abi = { ok: false, code: err.code, message: err.message };
  }
  return {
    file,
    size: info.size,
    sha256: toHex(sha256(wasm)),
    imports: info.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind, type: sig(i.type) })),
    exports: info.exports.map((e) => ({ name: e.name, kind: e.kind, type: sig(e.type) })),
    memory: info.memory ?? null,
    capabilities,
    abi,
  };
}
