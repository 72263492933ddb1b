// One verdict (issue 9 finding 6): every input of protocol/corpus goes through the TypeScript
// reference and through the C host's own decoders (firmware-host/build/wf-verdict, built by
// firmware-host/scripts/build.sh, which `npm test` runs first); both must give the same reason
// code, or both accept.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCorpus } from '../protocol/corpus-builder.js';
import { toHex } from '../protocol/index.js';
import { VERDICT_KINDS, verdictOf, type VectorIndex, type VerdictKind } from '../protocol/verdict.js';

const CORPUS = 'protocol/corpus';
const INDEX = 'protocol/vectors/index.json';
const TOOL = 'firmware-host/build/wf-verdict';
const index = JSON.parse(readFileSync(INDEX, 'utf8')) as VectorIndex;

function corpusFiles(kind: VerdictKind): string[] {
  return readdirSync(join(CORPUS, kind))
    .filter((f) => f.endsWith('.cbor'))
    .sort()
    .map((f) => join(CORPUS, kind, f));
}

/** The C host's verdict on each file, by path. */
function cVerdicts(kind: VerdictKind, files: string[]): Map<string, string> {
  const out = execFileSync(TOOL, [INDEX, kind, ...files], { maxBuffer: 1 << 24 }).toString();
  return new Map(
    out
      .trim()
      .split('\n')
      .map((line): [string, string] => {
        const at = line.lastIndexOf(' ');
        return [line.slice(0, at), line.slice(at + 1)];
      }),
  );
}

const verdicts = new Map<VerdictKind, Array<{ file: string; ts: string; c: string | undefined }>>();
function verdictsFor(kind: VerdictKind) {
  if (!verdicts.has(kind)) {
    const files = corpusFiles(kind);
    const c = cVerdicts(kind, files);
    verdicts.set(
      kind,
      files.map((file) => ({ file, ts: verdictOf(kind, new Uint8Array(readFileSync(file)), index), c: c.get(file) })),
    );
  }
  return verdicts.get(kind)!;
}

describe('protocol/corpus: one verdict on both hosts', () => {
  it('committed files equal a fresh deterministic build (run "npm run corpus" after a protocol change)', () => {
    const fresh = buildCorpus();
    const onDisk = VERDICT_KINDS.flatMap((k) => readdirSync(join(CORPUS, k)).map((f) => `${k}/${f}`)).sort();
    expect(onDisk).toEqual([...fresh.files.keys()].sort());
    for (const [name, bytes] of fresh.files) expect(toHex(new Uint8Array(readFileSync(join(CORPUS, name)))), name).toBe(toHex(bytes));
  });

  it('the C verdict tool is built', () => {
    expect(existsSync(TOOL), `${TOOL} missing: bash firmware-host/scripts/build.sh --strict`).toBe(true);
  });

  for (const kind of VERDICT_KINDS) {
    it(`${kind}: the TS reference and the C host give the same reason on every input`, () => {
      const all = verdictsFor(kind);
      expect(all.length).toBeGreaterThan(50);
      const differ = all.filter((v) => v.ts !== v.c).map((v) => `${v.file}: TS ${v.ts}, C ${v.c}`);
      expect(differ).toEqual([]);
    });
  }

  it.each([
    ['cbor', 'hand-lone-break', 'CBOR_MALFORMED'],
    ['cbor', 'hand-indefinite-bstr', 'CBOR_NON_CANONICAL'],
    ['cbor', 'hand-undefined', 'CBOR_UNSUPPORTED'],
    ['cbor', 'hand-tag-1-epoch', 'CBOR_UNSUPPORTED'],
    ['cbor', 'hand-tag-258-set', 'CBOR_UNSUPPORTED'],
    ['cbor', 'hand-shared-value-bomb', 'CBOR_UNSUPPORTED'],
    ['cbor', 'hand-4097-items', 'CBOR_TOO_LARGE'],
    ['keydoc', 'hand-empty', 'CBOR_MALFORMED'],
    ['keydoc', 'hand-signed-keys-undefined', 'CBOR_UNSUPPORTED'],
    ['bundle', 'hand-signed-valid-control', 'OK'],
    ['bundle', 'hand-signed-undefined-rollback', 'CBOR_UNSUPPORTED'],
    ['bundle', 'hand-signed-null-rollback', 'CBOR_FIELD_INVALID'],
    ['bundle', 'hand-signed-float-sequence', 'CBOR_UNSUPPORTED'],
    ['bundle', 'vector-bundle-root-chain-broken', 'ROOT_CHAIN_BROKEN'],
    ['freshness', 'vector-freshness-valid-root-rotated', 'OK'],
    ['freshness', 'vector-freshness-wrong-role', 'COSE_WRONG_ROLE'],
  ] as Array<[VerdictKind, string, string]>)('%s %s → %s on both hosts', (kind, name, want) => {
    const v = verdictsFor(kind).find((x) => x.file.endsWith(`/${name}.cbor`));
    expect(v, name).toBeDefined();
    expect({ ts: v!.ts, c: v!.c }).toEqual({ ts: want, c: want });
  });
});
