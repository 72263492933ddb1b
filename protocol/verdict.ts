// One verdict per protocol input, as a reason code ("OK" when accepted): the TypeScript side of
// the differential test (test/cbor-differential.test.ts runs firmware-host's wf-verdict on the
// same files) and of the decoder fuzz (scripts/fuzz-ts.ts). Every input is checked against the
// device context of the test vectors (protocol/vectors/index.json).
import { decodeCbor } from './cbor.js';
import { fromHex } from './crypto.js';
import { checkBundle, checkFreshness } from './device-checks.js';
import { WfError } from './errors.js';
import { decodeChunkRequest, decodeChunkResponse, decodeHello, decodeReport, MESSAGE_LIMITS } from './messages.js';
import { openKeyDocument } from './payloads/key-document.js';
import type { VectorSet } from './vector-builder.js';

export const VERDICT_KINDS = ['cbor', 'keydoc', 'bundle', 'freshness', 'hello', 'report', 'chunk_request', 'chunk_response'] as const;
export type VerdictKind = (typeof VERDICT_KINDS)[number];
export type VectorIndex = VectorSet['index'];

function run(kind: VerdictKind, bytes: Uint8Array, index: VectorIndex): void {
  const c = index.context;
  const rootPublicKey = fromHex(index.root_public_key);
  switch (kind) {
    case 'cbor':
      decodeCbor(bytes, { what: 'input', maxBytes: MESSAGE_LIMITS.bundle });
      return;
    case 'keydoc':
      openKeyDocument(bytes, { rootPublicKey, now: c.now, minSerial: c.keydoc_serial, skew: c.skew });
      return;
    case 'bundle':
      checkBundle(bytes, {
        deviceId: c.device,
        rootPublicKey,
        now: c.now,
        skew: c.skew,
        capabilities: c.capabilities,
        memory: c.memory,
        committedSequence: c.committed_sequence,
        keydocSerial: c.keydoc_serial,
        running: new Map([[c.running.component, { version: c.running.version, manifestDigest: fromHex(c.running.manifest) }]]),
      });
      return;
    case 'freshness':
      checkFreshness(bytes, { rootPublicKey, now: c.now, skew: c.skew, keydocSerial: c.keydoc_serial });
      return;
    case 'hello':
      decodeHello(bytes);
      return;
    case 'report':
      decodeReport(bytes);
      return;
    case 'chunk_request':
      decodeChunkRequest(bytes);
      return;
    case 'chunk_response':
      decodeChunkResponse(bytes);
      return;
  }
}

/** "OK" or the reason code. Any exception other than a WfError is a bug and propagates. */
export function verdictOf(kind: VerdictKind, bytes: Uint8Array, index: VectorIndex): string {
  try {
    run(kind, bytes, index);
    return 'OK';
  } catch (err) {
    if (err instanceof WfError) return err.code;
    throw err;
  }
}
