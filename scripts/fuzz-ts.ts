// Fuzz of the TypeScript decoders, differential against the C host: mutants of protocol/corpus go
// through verdictOf (protocol/verdict.ts) and, in batches, through firmware-host's wf-verdict.
// A finding is: an exception other than a WfError, a decoded value with more nodes than the
// profile's item bound (work that grows beyond the input), or a verdict that differs from C's.
// Findings are saved under firmware-host/build-fuzz/ts-findings/ and fail the run (exit 1).
//
//   FUZZ_SECONDS_EACH=15 FUZZ_SEED=1 node dist/scripts/fuzz-ts.js
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CBOR_MAX_ITEMS } from '../protocol/cbor-profile.js';
import { decodeCbor } from '../protocol/cbor.js';
import { mutate, prng } from '../protocol/corpus-builder.js';
import { MESSAGE_LIMITS } from '../protocol/messages.js';
import { VERDICT_KINDS, verdictOf, type VectorIndex, type VerdictKind } from '../protocol/verdict.js';

const ROOT = resolve(process.argv[2] ?? '.');
const seconds = Number(process.env.FUZZ_SECONDS_EACH ?? 15);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const TOOL = join(ROOT, 'firmware-host/build/wf-verdict');
const INDEX = join(ROOT, 'protocol/vectors/index.json');
const FINDINGS = join(ROOT, 'firmware-host/build-fuzz/ts-findings');
const BATCH = 500;
const index = JSON.parse(readFileSync(INDEX, 'utf8')) as VectorIndex;
const seeds = new Map<VerdictKind, Uint8Array[]>(
  VERDICT_KINDS.map((k) => {
    const dir = join(ROOT, 'protocol/corpus', k);
    return [k, readdirSync(dir).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))))];
  }),
);

/** Nodes of a decoded value, counting shared references again each time; stops past `cap`. */
function nodes(value: unknown, cap: number): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && n <= cap) {
    const v = stack.pop();
    n++;
    if (Array.isArray(v)) stack.push(...v);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
  }
  return n;
}

const rnd = prng(seed);
const findings: string[] = [];
const counts = new Map<string, number>();
let inputs = 0;
let slowestMs = 0;
let differential = 0;
const work = mkdtempSync(join(tmpdir(), 'wf-fuzz-ts-'));

function finding(kind: VerdictKind, bytes: Uint8Array, what: string): void {
  mkdirSync(FINDINGS, { recursive: true });
  const file = join(FINDINGS, `${kind}-${findings.length}.cbor`);
  writeFileSync(file, bytes);
  findings.push(`${kind}: ${what} (${file})`);
}

const deadline = Date.now() + seconds * 1000;
try {
  while (Date.now() < deadline && findings.length === 0) {
    for (const kind of VERDICT_KINDS) {
      const pool = seeds.get(kind)!;
      const batch: Array<{ file: string; bytes: Uint8Array; ts: string }> = [];
      for (let i = 0; i < BATCH; i++) {
        let bytes = pool[Math.floor(rnd() * pool.length)];
        for (let e = 1 + Math.floor(rnd() * 4); e > 0; e--) bytes = mutate(bytes, rnd);
        if (bytes.length > MESSAGE_LIMITS.bundle + 1024) continue;
        const t0 = performance.now();
        let ts: string;
        try {
          ts = verdictOf(kind, bytes, index);
          if (kind === 'cbor' && ts === 'OK') {
            const n = nodes(decodeCbor(bytes, { what: 'fuzz', maxBytes: MESSAGE_LIMITS.bundle }), CBOR_MAX_ITEMS);
            if (n > CBOR_MAX_ITEMS) finding(kind, bytes, `decoded value has more than ${CBOR_MAX_ITEMS} nodes`);
          }
        } catch (err) {
          finding(kind, bytes, `untyped exception ${(err as Error).name}: ${(err as Error).message}`);
          continue;
        }
        slowestMs = Math.max(slowestMs, performance.now() - t0);
        counts.set(ts, (counts.get(ts) ?? 0) + 1);
        inputs++;
        const file = join(work, `${i}.cbor`);
        writeFileSync(file, bytes);
        batch.push({ file, bytes, ts });
      }
      // the same inputs through the C host
      const out = execFileSync(TOOL, [INDEX, kind, ...batch.map((b) => b.file)], { maxBuffer: 1 << 24 }).toString();
      const c = new Map(
        out
          .trim()
          .split('\n')
          .map((l): [string, string] => [l.slice(0, l.lastIndexOf(' ')), l.slice(l.lastIndexOf(' ') + 1)]),
      );
      for (const b of batch) {
        differential++;
        if (c.get(b.file) !== b.ts) finding(kind, b.bytes, `TS ${b.ts}, C ${c.get(b.file)}`);
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
console.log(
  `fuzz ts: ${findings.length === 0 ? 'ok' : 'FAILED'} — ${inputs} inputs in ${seconds} s (seed ${seed}), ` +
    `${differential} compared with the C host, slowest decode ${slowestMs.toFixed(1)} ms; verdicts: ${top}`,
);
for (const f of findings) console.error(`  finding: ${f}`);
process.exit(findings.length === 0 ? 0 : 1);
