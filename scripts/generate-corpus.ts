// Writes protocol/corpus/<kind>/*.cbor (the differential test's inputs and the fuzzers' seeds).
// Run: npm run corpus
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildCorpus } from '../protocol/corpus-builder.js';

const outDir = resolve(process.argv[2] ?? 'protocol/corpus');
rmSync(outDir, { recursive: true, force: true });
const { files } = buildCorpus();
for (const [name, bytes] of files) {
  mkdirSync(dirname(join(outDir, name)), { recursive: true });
  writeFileSync(join(outDir, name), bytes);
}
console.log(`wrote ${files.size} corpus files to ${outDir}`);
