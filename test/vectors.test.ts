// The test vectors every host checks: the committed bytes equal a fresh deterministic build,
// and the TypeScript reference accepts every valid vector and rejects every invalid one with its reason.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkBundle,
  checkFreshness,
  decodeChunkRequest,
  decodeChunkResponse,
  decodeHello,
  decodeReport,
  fromHex,
  toHex,
  WfError,
} from '../protocol/index.js';
import { buildVectors, type VectorContext, type VectorEntry } from '../protocol/vector-builder.js';

const dir = 'protocol/vectors';
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ReturnType<typeof buildVectors>['index'];

function trust(c: VectorContext) {
  return {
    rootPublicKey: fromHex(index.root_public_key),
    ...(c.root_version !== undefined && c.root_key ? { root: { version: c.root_version, publicKey: fromHex(c.root_key) } } : {}),
    keydocSerial: c.keydoc_serial,
    now: c.now,
    skew: c.skew,
  };
}

function run(v: VectorEntry, bytes: Uint8Array): unknown {
  const c: VectorContext = { ...index.context, ...(v.context ?? {}) };
  switch (v.kind) {
    case 'freshness': {
      const r = checkFreshness(bytes, { ...trust(c), lastIssuedAt: c.last_issued_at });
      return { issued_at: r.statement.issuedAt, expires: r.statement.expires };
    }
    case 'bundle': {
      const r = checkBundle(bytes, {
        ...trust(c),
        deviceId: c.device,
        capabilities: c.capabilities,
        memory: c.memory,
        committedSequence: c.committed_sequence,
        running: new Map([[c.running.component, { version: c.running.version, manifestDigest: fromHex(c.running.manifest) }]]),
      });
      return {
        sequence: r.directive.sequence,
        components: r.releases.map((x) => ({
          component: x.component,
          version: x.manifest.version,
          manifest: toHex(x.manifestDigest),
          sha256: toHex(x.manifest.image.sha256),
          size: x.manifest.image.size,
        })),
      };
    }
    case 'chunk_response': {
      const r = decodeChunkResponse(bytes);
      return { sha256: toHex(r.sha256), index: r.index, ...(r.data ? { data: toHex(r.data) } : { error: r.error }) };
    }
    case 'chunk_request': {
      const r = decodeChunkRequest(bytes);
      return { sha256: toHex(r.sha256), index: r.index, chunk_size: r.chunkSize };
    }
    case 'hello': {
      const h = decodeHello(bytes);
      return { host: h.host, abi: h.abi, capabilities: h.capabilities, max_chunk: h.maxChunk, memory: h.memory, agent: h.agent };
    }
    case 'report': {
      const r = decodeReport(bytes);
      return { state: r.state, sequence: r.sequence, target_sequence: r.targetSequence, progress: r.progress, time: r.time };
    }
  }
}

describe('protocol/vectors', () => {
  it('committed files equal a fresh deterministic build (run "npm run vectors" after a protocol change)', () => {
    const fresh = buildVectors();
    expect(JSON.parse(JSON.stringify(fresh.index))).toEqual(index);
    const onDisk = readdirSync(dir).filter((f) => f.endsWith('.cbor')).sort();
    expect(onDisk).toEqual([...fresh.files.keys()].sort());
    for (const [name, bytes] of fresh.files) expect(toHex(new Uint8Array(readFileSync(join(dir, name)))), name).toBe(toHex(bytes));
  });

  it('covers the faults the issue lists', () => {
    const reasons = new Set(index.vectors.filter((v) => !v.valid).map((v) => v.reason));
    for (const r of [
      'COSE_BAD_SIGNATURE',
      'COSE_UNKNOWN_KID',
      'KEYDOC_EXPIRED',
      'DIRECTIVE_EXPIRED',
      'DIRECTIVE_WRONG_DEVICE',
      'CBOR_MALFORMED',
      'CBOR_NON_CANONICAL',
      'ROOT_CHAIN_BROKEN',
      'ROOT_ROLLBACK',
      'FRESHNESS_EXPIRED',
      'FRESHNESS_ROLLBACK',
    ]) {
      expect(reasons, r).toContain(r);
    }
  });

  for (const v of index.vectors) {
    it(`${v.name}: ${v.valid ? 'accepted' : `rejected with ${v.reason}`}`, () => {
      const bytes = new Uint8Array(readFileSync(join(dir, v.file)));
      if (v.valid) {
        const got = run(v, bytes) as Record<string, unknown>;
        expect(got).toMatchObject(v.expect ?? {});
      } else {
        let err: unknown;
        try {
          run(v, bytes);
        } catch (e) {
          err = e;
        }
        expect(err, 'must be rejected').toBeInstanceOf(WfError);
        expect((err as WfError).code).toBe(v.reason);
      }
    });
  }
});
