// Builds every examples/wat/*.wat to examples/build/*.wasm with jco. Run: npm run examples
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModuleFile } from './compile.js';

const srcDir = resolve('examples/wat');
const outDir = resolve('examples/build');
mkdirSync(outDir, { recursive: true });
for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.wat')).sort()) {
  const wasm = await loadModuleFile(join(srcDir, file));
  const out = join(outDir, basename(file, '.wat') + '.wasm');
  writeFileSync(out, wasm);
  console.log(`${file} -> examples/build/${basename(out)} (${wasm.length} bytes)`);
}
