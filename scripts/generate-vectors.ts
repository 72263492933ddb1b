// Writes protocol/vectors/ (index.json + one .cbor per vector). Run: npm run vectors
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { transitionVectors } from '../protocol/update-table.js';
import { buildVectors } from '../protocol/vector-builder.js';

const outDir = resolve(process.argv[2] ?? 'protocol/vectors');
mkdirSync(outDir, { recursive: true });
for (const f of readdirSync(outDir)) if (f.endsWith('.cbor')) rmSync(join(outDir, f));
const { index, files } = buildVectors();
for (const [name, bytes] of files) writeFileSync(join(outDir, name), bytes);
writeFileSync(join(outDir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
writeFileSync(join(outDir, 'transitions.json'), JSON.stringify(transitionVectors(), null, 1) + '\n');
console.log(`wrote ${files.size} vectors and transitions.json to ${outDir}`);
