// Every single-bit change to a valid directive bundle is refused with a typed error: nothing a
// device receives can be nudged into acceptance, and no decoder throws an untyped exception.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkBundle, decodeChunkResponse, decodeReport, fromHex, WfError } from '../protocol/index.js';

const index = JSON.parse(readFileSync('protocol/vectors/index.json', 'utf8')) as {
  root_public_key: string;
  context: { device: string; now: number; capabilities: string[]; memory: number; committed_sequence: number; keydoc_serial: number; running: { component: string; version: string; manifest: string } };
};
const c = index.context;
const ctx = {
  deviceId: c.device,
  rootPublicKey: fromHex(index.root_public_key),
  now: c.now,
  capabilities: c.capabilities,
  memory: c.memory,
  committedSequence: c.committed_sequence,
  keydocSerial: c.keydoc_serial,
  running: new Map([[c.running.component, { version: c.running.version, manifestDigest: fromHex(c.running.manifest) }]]),
};

describe('bit flips', () => {
  it('every single-bit flip of a valid bundle is rejected with a WfError', () => {
    const valid = new Uint8Array(readFileSync('protocol/vectors/bundle-valid.cbor'));
    expect(() => checkBundle(valid, ctx)).not.toThrow();
    const codes = new Map<string, number>();
    for (let i = 0; i < valid.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = new Uint8Array(valid);
        m[i] ^= 1 << bit;
        let err: unknown;
        try {
          checkBundle(m, ctx);
        } catch (e) {
          err = e;
        }
        expect(err, `byte ${i} bit ${bit} was accepted`).toBeInstanceOf(WfError);
        const code = (err as WfError).code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    // The refusals come from every layer: CBOR, envelope, signature, fields.
    expect([...codes.keys()]).toEqual(expect.arrayContaining(['CBOR_MALFORMED', 'CBOR_NON_CANONICAL', 'COSE_BAD_SIGNATURE', 'DIRECTIVE_MANIFEST_MISSING']));
  });

  it('flips in chunk responses and reports give typed errors or a still-valid message, never a crash', () => {
    for (const [file, decode] of [
      ['chunk-response-valid.cbor', decodeChunkResponse],
      ['report-valid.cbor', decodeReport],
    ] as const) {
      const valid = new Uint8Array(readFileSync(`protocol/vectors/${file}`));
      for (let i = 0; i < valid.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const m = new Uint8Array(valid);
          m[i] ^= 1 << bit;
          try {
            decode(m);
          } catch (e) {
            expect(e, `${file} byte ${i} bit ${bit}`).toBeInstanceOf(WfError);
          }
        }
      }
    }
  });
});
