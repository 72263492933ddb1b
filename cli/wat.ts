// WAT → Wasm with jco (wasm-tools' parser compiled to Wasm): one function the CLI, the examples build
// script and the tests share.
import { readFileSync } from 'node:fs';
import { WfError } from '../protocol/errors.js';

export function isWat(bytes: Uint8Array): boolean {
  return !(bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d);
}

/** Compile WAT text to a Wasm binary; a syntax error becomes MODULE_INVALID with jco's message. */
export async function compileWat(text: string, what = 'module'): Promise<Uint8Array> {
  // Loaded on first use: jco is large, and the server and most commands never compile WAT.
  const { parse } = await import('@bytecodealliance/jco');
  try {
    return new Uint8Array(await parse(text));
  } catch (err) {
    throw new WfError('MODULE_INVALID', `${what}: WAT does not compile: ${String((err as Error).message ?? err).split('\n')[0]}`);
  }
}

/** Read a .wasm or .wat file and return Wasm bytes. */
export async function loadModuleFile(path: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(readFileSync(path));
  if (!isWat(bytes)) return bytes;
  const text = Buffer.from(bytes).toString('utf8');
  // WAT starts with "(" after blanks and ";;" comments; anything else is not a module at all.
  if (!/^(\s|;;[^\n]*\n)*\(/.test(text)) {
    throw new WfError('MODULE_INVALID', `${path}: neither a Wasm binary (no \\0asm magic) nor WAT text`);
  }
  return compileWat(text, path);
}
