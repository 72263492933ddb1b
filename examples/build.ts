// Builds the example modules into examples/build/: every examples/wat/*.wat with jco, and every
// examples/c/*.c with clang + lld to wasm32 (freestanding, no libc; Debian's clang and lld, which
// scripts/system-deps.sh installs). Run: npm run examples
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModuleFile } from '../cli/wat.js';

const outDir = resolve('examples/build');
mkdirSync(outDir, { recursive: true });
const wrote = (src: string, out: string, bytes: number) => console.log(`${src} -> examples/build/${basename(out)} (${bytes} bytes)`);

const watDir = resolve('examples/wat');
for (const file of readdirSync(watDir).filter((f) => f.endsWith('.wat')).sort()) {
  const wasm = await loadModuleFile(join(watDir, file));
  const out = join(outDir, basename(file, '.wat') + '.wasm');
  writeFileSync(out, wasm);
  wrote(file, out, wasm.length);
}

/** One 64 KiB page of memory, 8 KiB of it stack; only the ABI's exports (and memory). */
export const CLANG_FLAGS = [
  '--target=wasm32', '-O2', '-nostdlib', '-ffreestanding', '-Wall', '-Wextra', '-Werror',
  '-Wl,--no-entry', '-Wl,-z,stack-size=8192', '-Wl,--initial-memory=65536', '-Wl,--max-memory=65536',
];

const cDir = resolve('examples/c');
const cFiles = readdirSync(cDir).filter((f) => f.endsWith('.c')).sort();
let clang = true;
try {
  execFileSync('clang', ['--version'], { stdio: 'ignore' });
  execFileSync('wasm-ld', ['--version'], { stdio: 'ignore' });
} catch {
  clang = false;
}
if (!clang) {
  console.error(`examples: clang or wasm-ld not found — the C examples (${cFiles.join(', ')}) are not built; install with: apt-get install clang lld`);
} else {
  for (const file of cFiles) {
    const out = join(outDir, basename(file, '.c') + '.wasm');
    execFileSync('clang', [...CLANG_FLAGS, '-o', out, join(cDir, file)], { stdio: 'inherit' });
    wrote(`c/${file}`, out, readFileSync(out).length);
  }
}
